//! Prints the AST and the map types of the script given as the first argument, or its
//! errors, as `kscope run --dry-run` will.
fn main() {
    let src = std::env::args().nth(1).unwrap_or_default();
    let file = kscope_lang::SourceFile::new("-e", src.as_str());
    let opts = kscope_lang::sema::Options::default();
    match kscope_lang::compile(&file, &opts, &kscope_lang::sema::NoKernelTypes) {
        Ok(c) => {
            print!("{}", c.typed_tree());
            for (name, m) in &c.maps {
                let keys: Vec<String> = m.keys.iter().map(|k| k.to_string()).collect();
                println!("@{name}[{}]: {}", keys.join(", "), m.value);
            }
        }
        Err(e) => print!("{e}"),
    }
}
