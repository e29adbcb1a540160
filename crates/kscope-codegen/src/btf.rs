//! The program's own BTF: one `FUNC` per function, which the verifier requires (as
//! `func_info`) before a subprogram may be passed to a helper as a callback
//! (`bpf_for_each_map_elem`). Every function returns `long` and takes `void *`
//! parameters; the entry point is global, subprograms are static (callbacks must be).

use kscope_bpf::FuncBtf;

const MAGIC: u16 = 0xeb9f;
const KIND_INT: u32 = 1;
const KIND_PTR: u32 = 2;
const KIND_FUNC: u32 = 12;
const KIND_FUNC_PROTO: u32 = 13;
const INT_SIGNED: u32 = 1;
const LINKAGE_STATIC: u32 = 0;
const LINKAGE_GLOBAL: u32 = 1;
const HEADER_LEN: u32 = 24;

struct Strings(Vec<u8>);

impl Strings {
    fn add(&mut self, s: &str) -> u32 {
        let off = self.0.len() as u32;
        self.0.extend_from_slice(s.as_bytes());
        self.0.push(0);
        off
    }
}

/// The BTF and `func_info` of a program whose functions start at the instruction
/// offsets `starts` (the entry point first) and take `params[i]` parameters each.
pub fn func_btf(starts: &[usize], params: &[u8]) -> FuncBtf {
    let mut strs = Strings(vec![0]);
    let mut types: Vec<u32> = Vec::new();
    let info = |kind: u32, vlen: u32| (kind << 24) | vlen;
    // [1] long
    let long = strs.add("long");
    types.extend([long, info(KIND_INT, 0), 8, (INT_SIGNED << 24) | 64]);
    // [2] void *
    types.extend([0, info(KIND_PTR, 0), 0]);
    let mut next_id = 3u32;
    let mut funcs = Vec::new();
    for (i, &start) in starts.iter().enumerate() {
        let n = u32::from(params.get(i).copied().unwrap_or(0));
        let proto = next_id;
        types.extend([0, info(KIND_FUNC_PROTO, n), 1]);
        for p in 0..n {
            let name = if i == 0 {
                strs.add("ctx")
            } else {
                strs.add(&format!("a{}", p + 1))
            };
            types.extend([name, 2]);
        }
        let (name, linkage) = if i == 0 {
            (strs.add("kscope_main"), LINKAGE_GLOBAL)
        } else {
            (strs.add(&format!("kscope_fn{i}")), LINKAGE_STATIC)
        };
        types.extend([name, info(KIND_FUNC, linkage), proto]);
        funcs.push((start as u32, proto + 1));
        next_id = proto + 2;
    }
    let type_len = (types.len() * 4) as u32;
    let mut btf = Vec::new();
    btf.extend_from_slice(&MAGIC.to_ne_bytes());
    btf.extend_from_slice(&[1, 0]);
    for v in [HEADER_LEN, 0, type_len, type_len, strs.0.len() as u32] {
        btf.extend_from_slice(&v.to_ne_bytes());
    }
    for t in types {
        btf.extend_from_slice(&t.to_ne_bytes());
    }
    btf.extend_from_slice(&strs.0);
    FuncBtf { btf, funcs }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_functions() {
        let f = func_btf(&[0, 9], &[1, 4]);
        // Type ids: 1 long, 2 void *, 3 proto(ctx), 4 FUNC main, 5 proto(a1..a4), 6 FUNC.
        assert_eq!(f.funcs, vec![(0, 4), (9, 6)]);
        let b = &f.btf;
        assert_eq!(u16::from_ne_bytes([b[0], b[1]]), MAGIC);
        let word = |i: usize| u32::from_ne_bytes(b[i..i + 4].try_into().unwrap());
        let type_len = word(12) as usize;
        // long: 16 bytes, ptr: 12, proto(1): 12 + 8, func: 12, proto(4): 12 + 32, func: 12.
        assert_eq!(type_len, 16 + 12 + 20 + 12 + 44 + 12);
        let strs = &b[24 + type_len..];
        assert_eq!(strs.len(), word(20) as usize);
        let text = String::from_utf8_lossy(strs);
        assert!(text.contains("kscope_main\0") && text.contains("kscope_fn1\0"));
    }
}
