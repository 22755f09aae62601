"""docker-py against a berth daemon: python3 docker_py_check.py unix:///path/berth.sock"""
import concurrent.futures
import sys

import docker

c = docker.DockerClient(base_url=sys.argv[1])
assert c.ping()
assert c.version()["ApiVersion"] == "1.55"
assert c.api.api_version == "1.55", c.api.api_version  # negotiated up to the newest
assert ["busybox:latest"] in [i.tags for i in c.images.list()]

out = c.containers.run("busybox", ["sh", "-c", "echo hello from docker-py"], remove=True)
assert out == b"hello from docker-py\n", out

ct = c.containers.run("busybox", "sleep 100", detach=True, name="pyt", labels={"a": "b"})
ct.reload()
assert ct.status == "running" and ct.attrs["State"]["Pid"] > 0, ct.attrs["State"]
r = ct.exec_run("sh -c 'echo execd; exit 3'")
assert (r.exit_code, r.output) == (3, b"execd\n"), r
# docker-py reads the 101's headers through a buffered reader and then the bare socket:
# output sent before it has read them is lost (docker/docker-py#3332), which a fast exec
# under load used to hit about once in 30. 200 execs, 16 at a time, all keep their output.
with concurrent.futures.ThreadPoolExecutor(16) as pool:
    results = list(pool.map(lambda i: ct.exec_run(["echo", f"run {i}"]), range(200)))
lost = [(i, r) for i, r in enumerate(results) if (r.exit_code, r.output) != (0, f"run {i}\n".encode())]
assert not lost, lost[:5]
assert [x.name for x in c.containers.list(filters={"label": "a=b"})] == ["pyt"]
assert ct.top()["Titles"][:2] == ["UID", "PID"]
ct.stop(timeout=1)
ct.reload()
assert (ct.status, ct.attrs["State"]["ExitCode"]) == ("exited", 137), ct.attrs["State"]
ct.remove()

logged = c.containers.run("busybox", "echo logged", detach=True)
assert logged.wait()["StatusCode"] == 0
assert logged.logs() == b"logged\n"
logged.remove()

try:
    c.containers.run("busybox", "nosuch", remove=True)
    raise AssertionError("expected an error")
except docker.errors.APIError as e:
    assert e.status_code == 400 and "executable file not found" in str(e), e
try:
    c.images.get("nope")
    raise AssertionError("expected ImageNotFound")
except docker.errors.ImageNotFound:
    pass

img = c.images.get("busybox")
img.tag("pyt/bb", "v1")
assert c.images.get("pyt/bb:v1").id == img.id
assert len(b"".join(img.save())) > 1000
c.images.remove("pyt/bb:v1")

# images.build with its defaults (rm=False keeps the build container, as dockerd), a
# build arg, and a failing step reported as BuildError with the step's exit code.
import io
built, logs = c.images.build(
    fileobj=io.BytesIO(b"FROM busybox\nARG WHO=nobody\nRUN echo hi $WHO > /greeting\nCMD cat /greeting\n"),
    tag="pyt/built:1",
    buildargs={"WHO": "docker-py"},
)
assert "pyt/built:1" in built.tags, built.tags
assert any("Successfully built" in l.get("stream", "") for l in logs)
assert c.containers.run("pyt/built:1", remove=True) == b"hi docker-py\n"
for kept in c.containers.list(all=True):
    kept.remove(force=True)
try:
    c.images.build(fileobj=io.BytesIO(b"FROM busybox\nRUN exit 7\n"), rm=True)
    raise AssertionError("expected BuildError")
except docker.errors.BuildError as e:
    assert "returned a non-zero code: 7" in e.msg, e.msg
assert c.containers.list(all=True) == []
# commit, with changes and a message
ct = c.containers.run("busybox", "sh -c 'echo x > /committed'", detach=True)
ct.wait()
snap = ct.commit(repository="pyt/snap", tag="1", message="snap", changes=["ENV K=v"])
assert snap.attrs["Comment"] == "snap" and "K=v" in snap.attrs["Config"]["Env"], snap.attrs
ct.remove()
c.images.remove("pyt/snap:1")
c.images.remove("pyt/built:1")

# Events streamed to one client while this one works; stats; a restart policy; a health
# check; update.
import threading, time
since = time.time()
seen = []
stream = c.events(decode=True, filters={"type": "container", "container": "pyev"})
def follow():
    for ev in stream:
        seen.append(ev["Action"])
        if ev["Action"] == "destroy":
            return
t = threading.Thread(target=follow, daemon=True)
t.start()
time.sleep(0.3)
ev = c.containers.run("busybox", "sleep 100", detach=True, name="pyev",
                      restart_policy={"Name": "on-failure", "MaximumRetryCount": 2},
                      healthcheck={"Test": ["CMD", "true"], "Interval": 200_000_000})
st = ev.stats(stream=False)
assert st["name"] == "/pyev" and st["cpu_stats"]["cpu_usage"]["total_usage"] > 0, st
ev.update(mem_limit="48m", restart_policy={"Name": "always"})
ev.reload()
assert ev.attrs["HostConfig"]["Memory"] == 48 << 20, ev.attrs["HostConfig"]
assert ev.attrs["HostConfig"]["RestartPolicy"]["Name"] == "always"
for _ in range(50):
    ev.reload()
    if ev.attrs["State"].get("Health", {}).get("Status") == "healthy":
        break
    time.sleep(0.1)
assert ev.attrs["State"]["Health"]["Status"] == "healthy", ev.attrs["State"]
ev.remove(force=True)
t.join(10)
stream.close()
assert seen[:2] == ["create", "start"] and "health_status: healthy" in seen and seen[-1] == "destroy", seen
past = [e["Action"] for e in c.events(since=since, until=time.time(), decode=True, filters={"container": "pyev"})]
assert past[0] == "create" and past[-1] == "destroy", past
print("docker-py: ok")
