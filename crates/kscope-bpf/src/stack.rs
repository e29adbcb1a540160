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

/// `struct bpf_stack_build_id`'s `status`: no frame (the zero padding after the last).
pub const BUILD_ID_EMPTY: i32 = 0;
/// `status`: the frame has a build id and a file offset.
pub const BUILD_ID_VALID: i32 = 1;
/// `status`: the kernel could not read the build id; the frame holds the address.
pub const BUILD_ID_IP: i32 = 2;

/// One frame of a stack trace map created with `BPF_F_STACK_BUILD_ID`: a
/// `struct bpf_stack_build_id` (`s32 status; u8 build_id[20]; union { u64 offset; u64 ip; }`,
/// 32 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildIdFrame {
    /// [`BUILD_ID_VALID`] or [`BUILD_ID_IP`].
    pub status: i32,
    /// The build id of the file the address is in (20 bytes; a shorter id is zero padded).
    pub build_id: [u8; 20],
    /// The file offset of the address ([`BUILD_ID_VALID`]), or the address itself.
    pub offset_or_ip: u64,
}

/// Bytes of one [`BuildIdFrame`].
pub const BUILD_ID_FRAME_SIZE: usize = 32;

/// The frames of a `BPF_F_STACK_BUILD_ID` map's value, innermost first, up to the first
/// empty one.
pub fn parse_build_id_frames(value: &[u8]) -> Vec<BuildIdFrame> {
    value
        .chunks_exact(BUILD_ID_FRAME_SIZE)
        .map(|c| {
            let mut build_id = [0u8; 20];
            build_id.copy_from_slice(&c[4..24]);
            BuildIdFrame {
                status: i32::from_ne_bytes([c[0], c[1], c[2], c[3]]),
                build_id,
                offset_or_ip: u64::from_ne_bytes(c[24..32].try_into().unwrap_or([0; 8])),
            }
        })
        .take_while(|f| f.status != BUILD_ID_EMPTY)
        .collect()
}

/// The frames of stack `stack_id` in a `BPF_F_STACK_BUILD_ID` stack trace map; `None` if
/// the id is not (or no longer) in the map.
pub fn stack_build_ids(map: &Map, stack_id: u32) -> Result<Option<Vec<BuildIdFrame>>, BpfError> {
    Ok(map
        .lookup(&stack_id.to_ne_bytes())?
        .map(|v| parse_build_id_frames(&v)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(status: i32, id_byte: u8, word: u64) -> Vec<u8> {
        let mut f = status.to_ne_bytes().to_vec();
        f.extend([id_byte; 20]);
        f.extend(word.to_ne_bytes());
        f
    }

    #[test]
    fn build_id_frames_stop_at_the_first_empty_one() {
        let mut v = frame(BUILD_ID_VALID, 0xab, 0x1234);
        v.extend(frame(BUILD_ID_IP, 0, 0x7fff_0000_1000));
        v.extend(vec![0u8; 2 * BUILD_ID_FRAME_SIZE]);
        let frames = parse_build_id_frames(&v);
        assert_eq!(
            frames,
            [
                BuildIdFrame {
                    status: BUILD_ID_VALID,
                    build_id: [0xab; 20],
                    offset_or_ip: 0x1234
                },
                BuildIdFrame {
                    status: BUILD_ID_IP,
                    build_id: [0; 20],
                    offset_or_ip: 0x7fff_0000_1000
                }
            ]
        );
        assert!(parse_build_id_frames(&[0u8; 64]).is_empty());
    }
}
