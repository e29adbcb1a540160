//! Prints the AST (or the error) of the script given as the first argument.
fn main() {
    let src = std::env::args().nth(1).unwrap_or_default();
    let file = kscope_lang::SourceFile::new("-e", src.as_str());
    match kscope_lang::parser::parse(&src) {
        Ok(p) => print!("{p}"),
        Err(d) => print!("{}", d.render(&file)),
    }
}
