//! Kernel tests of map element operations, iteration and batches on maps with known
//! contents.

use kscope_bpf::{BpfError, IdKind, Map, MapSpec, MapType, UpdateFlags, loaded_ids};
use kscope_testkit::{Feature, require};

fn k(i: u64) -> [u8; 8] {
    i.to_ne_bytes()
}

fn u64_of(b: &[u8]) -> u64 {
    u64::from_ne_bytes(b[..8].try_into().unwrap())
}

fn errno(e: &BpfError) -> Option<i32> {
    match e {
        BpfError::MapOp { source, .. } => source.raw_os_error(),
        _ => None,
    }
}

/// Waits up to 5 s until none of `ids` is listed any more.
fn assert_maps_gone(ids: &[u32]) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let now = loaded_ids(IdKind::Map).unwrap();
        let left: Vec<u32> = ids.iter().copied().filter(|i| now.contains(i)).collect();
        if left.is_empty() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "maps {left:?} still exist after being dropped"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The sorted (key, value) pairs of `entries` read as u64s.
fn pairs(entries: &[(Vec<u8>, Vec<u8>)]) -> Vec<(u64, u64)> {
    let mut v: Vec<(u64, u64)> = entries
        .iter()
        .map(|(k, v)| (u64_of(k), u64_of(v)))
        .collect();
    v.sort();
    v
}

#[test]
fn hash_map_operations_with_known_contents() {
    let Some(_kernel) = require(Feature::Bpf) else {
        return;
    };
    let map_id;
    {
        let map =
            Map::create(&MapSpec::new(MapType::Hash, 8, 8, 1000).with_name("ks_hash")).unwrap();
        map_id = map.id().unwrap();
        assert_eq!(map.info().key_size, 8);
        assert_eq!(map.value_len(), 8);
        for i in 0..300u64 {
            map.update(&k(i), &k(i * i), UpdateFlags::NoExist).unwrap();
        }
        let want: Vec<(u64, u64)> = (0..300).map(|i| (i, i * i)).collect();
        let batch = map
            .entries_by_batch()
            .unwrap()
            .expect("hash maps have batch lookups");
        assert_eq!(pairs(&batch), want, "batch lookup");
        assert_eq!(
            pairs(&map.entries_by_iteration().unwrap()),
            want,
            "iteration"
        );
        assert_eq!(map.keys().unwrap().len(), 300);

        // Update flags.
        let e = map.update(&k(5), &k(0), UpdateFlags::NoExist).unwrap_err();
        assert_eq!(errno(&e), Some(libc::EEXIST), "{e}");
        let e = map.update(&k(5000), &k(0), UpdateFlags::Exist).unwrap_err();
        assert_eq!(errno(&e), Some(libc::ENOENT), "{e}");
        map.update(&k(5), &k(55), UpdateFlags::Exist).unwrap();
        map.update(&k(5), &k(56), UpdateFlags::Any).unwrap();
        assert_eq!(map.lookup(&k(5)).unwrap().map(|v| u64_of(&v)), Some(56));
        assert_eq!(map.lookup(&k(5000)).unwrap(), None);

        // Delete and lookup-and-delete.
        assert!(map.delete(&k(7)).unwrap());
        assert!(!map.delete(&k(7)).unwrap());
        assert_eq!(
            map.lookup_and_delete(&k(8)).unwrap().map(|v| u64_of(&v)),
            Some(64)
        );
        assert_eq!(map.lookup_and_delete(&k(8)).unwrap(), None);
        assert_eq!(map.entries().unwrap().len(), 298);

        // Wrong sizes are refused before the kernel is called.
        let e = map.lookup(&[1, 2, 3]).unwrap_err();
        assert!(e.to_string().contains("key of 3 bytes"), "{e}");
        let e = map.update(&k(1), &[0; 4], UpdateFlags::Any).unwrap_err();
        assert!(e.to_string().contains("value buffer of 4 bytes"), "{e}");

        // Drain by batch, then by iteration.
        let drained = map
            .drain_by_batch()
            .unwrap()
            .expect("batch lookup-and-delete");
        assert_eq!(drained.len(), 298);
        assert_eq!(pairs(&drained)[5], (5, 56));
        assert!(map.entries().unwrap().is_empty());
        for i in 0..10u64 {
            map.update(&k(i), &k(i), UpdateFlags::Any).unwrap();
        }
        assert_eq!(
            pairs(&map.drain_by_iteration().unwrap()),
            (0..10).map(|i| (i, i)).collect::<Vec<_>>()
        );
        assert_eq!(map.next_key(None).unwrap(), None);
    }
    assert_maps_gone(&[map_id]);
}

/// A full bucket makes a small batch fail with ENOSPC: the batch grows and retries.
#[test]
fn batch_lookup_on_a_map_larger_than_one_batch() {
    let Some(_kernel) = require(Feature::Bpf) else {
        return;
    };
    let map = Map::create(&MapSpec::new(MapType::Hash, 8, 8, 10_000).with_name("ks_big")).unwrap();
    for i in 0..9_000u64 {
        map.update(&k(i), &k(i + 1), UpdateFlags::Any).unwrap();
    }
    let all = pairs(&map.entries_by_batch().unwrap().unwrap());
    assert_eq!(all.len(), 9_000);
    assert!(
        all.iter()
            .enumerate()
            .all(|(i, &(k, v))| k == i as u64 && v == k + 1)
    );
    let id = map.id().unwrap();
    drop(map);
    assert_maps_gone(&[id]);
}

#[test]
fn percpu_hash_values_per_cpu() {
    let Some(_kernel) = require(Feature::Bpf) else {
        return;
    };
    let cpus = kscope_sys::process::possible_cpus();
    // value_size 4 is padded to 8 bytes per CPU in user space.
    let map =
        Map::create(&MapSpec::new(MapType::PercpuHash, 8, 4, 64).with_name("ks_pcpu")).unwrap();
    assert!(map.is_percpu());
    assert_eq!(map.value_len(), 8 * cpus);
    for key in 0..20u64 {
        let mut value = vec![0u8; map.value_len()];
        for cpu in 0..cpus {
            let v = (key * 100 + cpu as u64) as u32;
            value[cpu * 8..cpu * 8 + 4].copy_from_slice(&v.to_ne_bytes());
        }
        map.update(&k(key), &value, UpdateFlags::Any).unwrap();
    }
    let check = |entries: Vec<(Vec<u8>, Vec<u8>)>| {
        assert_eq!(entries.len(), 20);
        for (key, value) in entries {
            let key = u64_of(&key);
            let per_cpu = map.split_percpu(&value);
            assert_eq!(per_cpu.len(), cpus);
            for (cpu, v) in per_cpu.iter().enumerate() {
                assert_eq!(v.len(), 4);
                assert_eq!(
                    u32::from_ne_bytes((*v).try_into().unwrap()),
                    (key * 100 + cpu as u64) as u32
                );
            }
        }
    };
    check(map.entries_by_batch().unwrap().unwrap());
    check(map.entries_by_iteration().unwrap());
    // lookup_u64_sum reads the first 8 bytes of each CPU's slot: here the 4-byte value
    // plus its zero padding.
    let want: u64 = (0..cpus as u64).map(|c| 300 + c).sum();
    assert_eq!(map.lookup_u64_sum(&k(3)).unwrap(), Some(want));
    check(map.drain_by_batch().unwrap().unwrap());
    assert!(map.entries().unwrap().is_empty());
    let id = map.id().unwrap();
    drop(map);
    assert_maps_gone(&[id]);
}

#[test]
fn array_batch_and_iteration_agree() {
    let Some(_kernel) = require(Feature::Bpf) else {
        return;
    };
    let map = Map::create(&MapSpec::new(MapType::Array, 4, 8, 50).with_name("ks_arr")).unwrap();
    for i in 0..50u32 {
        map.update(&i.to_ne_bytes(), &k(u64::from(i) * 3), UpdateFlags::Any)
            .unwrap();
    }
    let e = map
        .update(&50u32.to_ne_bytes(), &k(0), UpdateFlags::Any)
        .unwrap_err();
    assert_eq!(errno(&e), Some(libc::E2BIG), "{e}");
    let e = map.delete(&1u32.to_ne_bytes()).unwrap_err();
    assert_eq!(errno(&e), Some(libc::EINVAL), "{e}");
    let read = |entries: Vec<(Vec<u8>, Vec<u8>)>| -> Vec<(u32, u64)> {
        entries
            .iter()
            .map(|(k, v)| (u32::from_ne_bytes(k[..4].try_into().unwrap()), u64_of(v)))
            .collect()
    };
    let want: Vec<(u32, u64)> = (0..50).map(|i| (i, u64::from(i) * 3)).collect();
    assert_eq!(read(map.entries_by_batch().unwrap().unwrap()), want);
    // Arrays cannot delete: lookup-and-delete batches are refused, not emulated.
    assert!(map.drain_by_batch().unwrap().is_none());
    let e = map.drain().unwrap_err();
    assert_eq!(errno(&e), Some(libc::EINVAL), "{e}");
    assert_eq!(map.entries().unwrap().len(), 50);
    assert_eq!(read(map.entries_by_iteration().unwrap()), want);
    let id = map.id().unwrap();
    drop(map);
    assert_maps_gone(&[id]);
}
