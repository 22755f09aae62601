//! Docker's size strings: `512m`, `1g`, and human sizes like `4.26MB`.

/// `RAMInBytes`: binary units (k = 1024), optional trailing `b`.
pub fn parse_ram(s: &str) -> Result<i64, String> {
    let t = s.trim().to_ascii_lowercase();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("invalid size: '{s}'"))?;
    let mult: f64 = match unit.trim_end_matches('b') {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        _ => return Err(format!("invalid size: '{s}'")),
    };
    if unit.len() > 2 || (unit.len() == 2 && !unit.ends_with('b')) {
        return Err(format!("invalid size: '{s}'"));
    }
    Ok((n * mult) as i64)
}

/// `HumanSizeWithPrecision(size, 3)`: decimal units.
pub fn human_size(size: i64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut s = size as f64;
    let mut i = 0;
    while s >= 1000.0 && i < units.len() - 1 {
        s /= 1000.0;
        i += 1;
    }
    let digits = if s >= 100.0 {
        0
    } else if s >= 10.0 {
        1
    } else {
        2
    };
    let mut out = format!("{s:.digits$}");
    if out.contains('.') {
        out = out.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{out}{}", units[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_ram("512m").unwrap(), 512 << 20);
        assert_eq!(parse_ram("1G").unwrap(), 1 << 30);
        assert_eq!(parse_ram("64mb").unwrap(), 64 << 20);
        assert_eq!(parse_ram("100").unwrap(), 100);
        assert!(parse_ram("abc").is_err());
        assert!(parse_ram("12x").is_err());
        assert_eq!(human_size(4_261_000), "4.26MB");
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(1_500), "1.5kB");
    }
}
