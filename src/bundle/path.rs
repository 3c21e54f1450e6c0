//! Entry path rules shared by the writer and the reader: relative, `/`-separated, UTF-8, under
//! `data/`, no empty, `.` or `..` components, no backslashes or control characters.

/// Name of the envelope entry (always first).
pub const ENVELOPE_NAME: &str = "stella-bundle.dsse.json";

/// Checks a payload entry path; the error says why it is unsafe.
pub fn check_entry_path(p: &[u8]) -> Result<&str, &'static str> {
    let s = std::str::from_utf8(p).map_err(|_| "not UTF-8")?;
    if s.is_empty() {
        return Err("empty path");
    }
    if s.starts_with('/') {
        return Err("absolute path");
    }
    if s.bytes().any(|b| b < 0x20 || b == 0x7f || b == b'\\') {
        return Err("control character or backslash");
    }
    let parts: Vec<&str> = s.split('/').collect();
    if parts.contains(&"..") {
        return Err("contains ..");
    }
    if parts.iter().any(|c| c.is_empty() || *c == ".") {
        return Err("empty or . component");
    }
    if parts[0] != "data" || parts.len() < 2 {
        return Err("outside data/");
    }
    Ok(s)
}
