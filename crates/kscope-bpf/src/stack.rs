//! Reading stack traces that programs stored with `bpf_get_stackid` in a
//! `BPF_MAP_TYPE_STACK_TRACE` map.

use std::io;

use crate::{BpfError, Map, MapType};

/// The instruction addresses of stack `stack_id` in `map`, innermost first, without the
/// zero padding after the last frame; `None` if the id is not (or no longer) in the map.
///
/// A negative return value of `bpf_get_stackid` is an error code, not an id: `-EFAULT`
/// when no stack could be taken, `-EEXIST` on a hash collision without
/// `BPF_F_REUSE_STACKID`, `-ENOMEM` when the map is full.
pub fn stack_addresses(map: &Map, stack_id: u32) -> Result<Option<Vec<u64>>, BpfError> {
    if map.spec().map_type != MapType::StackTrace {
        return Err(BpfError::MapOp {
            op: "reading a stack trace from",
            name: map.spec().name.clone(),
            id: map.info().id,
            source: io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("it is a {} map, not a stack_trace map", map.spec().map_type),
            ),
        });
    }
    let Some(value) = map.lookup(&stack_id.to_ne_bytes())? else {
        return Ok(None);
    };
    Ok(Some(
        value
            .chunks_exact(8)
            .map(|c| u64::from_ne_bytes(c.try_into().unwrap_or([0; 8])))
            .take_while(|&a| a != 0)
            .collect(),
    ))
}
