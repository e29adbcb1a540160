//! tmp
#![allow(missing_docs)]
#[derive(Default)]
pub struct Options;
pub trait TypeProvider {}
pub struct NoKernelTypes;
impl TypeProvider for NoKernelTypes {}
pub struct Checked;
pub fn check(_p: crate::ast::Program, _o: &Options, _t: &dyn TypeProvider) -> Result<Checked, Vec<crate::Diagnostic>> { Ok(Checked) }
