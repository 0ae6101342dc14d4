//! The OpenAPI document a release build serves (`openapi.json`, kept pretty for
//! review) without its indentation: half the bytes in the binary.

use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=openapi.json");
    let text = std::fs::read_to_string("openapi.json")?;
    let out = std::env::var("OUT_DIR")?;
    std::fs::write(Path::new(&out).join("openapi.min.json"), minify(&text))?;
    Ok(())
}

/// JSON without the whitespace between tokens (strings are kept as they are).
fn minify(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in json.chars() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    out
}
