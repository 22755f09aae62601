//! Dockerfiles, below the engine: nothing here runs a container or touches an image.
//!
//! - `parse`: the file's lines as instructions (parser directives, comments, line
//!   continuations with the escape character, heredocs, JSON and shell forms, flags).
//! - `expand`: `$VAR`, `${VAR}`, `${VAR:-x}`, `${VAR:+x}`, quotes and escapes, as the
//!   Dockerfile's shell-like words are read.
//! - `glob`: one path component against a pattern (COPY sources, `.dockerignore`).
//! - `ignore`: `.dockerignore`, which files of a context are not sent.
//! - `instruction`: each instruction typed and checked (`FROM`, `RUN`, `COPY`, ...),
//!   and the stages of a multi-stage file.

pub mod error;
pub mod expand;
pub mod glob;
pub mod ignore;
pub mod instruction;
pub mod parse;

pub use error::{BuildError, Result};
