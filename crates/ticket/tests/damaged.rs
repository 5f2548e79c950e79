//! Damaged and crafted tickets: every mutation of a valid ticket is a typed error (naming the
//! file or the section) or a ticket that still parses, never a panic, an abort or a huge
//! allocation; flips without a fresh checksum and truncations are always caught.

use std::path::Path;
use std::sync::OnceLock;

use candle_core::Device;
use iterand_data::digits;
use iterand_models::Arch;
use iterand_ticket::{export, info, rebuild, Ticket};
use iterand_train::{train_with, DatasetName, Method, RunOptions, TrainConfig};
use proptest::prelude::*;
use sha2::{Digest, Sha256};

/// One IteRand digits ticket, trained once for all cases.
fn base() -> &'static Ticket {
    static T: OnceLock<Ticket> = OnceLock::new();
    T.get_or_init(|| {
        let cfg = TrainConfig {
            dataset: DatasetName::Digits,
            model: Arch::Fc,
            method: Method::Iterand,
            width: 0.125,
            epochs: 1,
            batch_size: 32,
            lr: 0.1,
            rerand_freq: 2,
            rerand_lambda: 0.3,
            limit_batches: Some(12),
            seed: 4,
            ..Default::default()
        };
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run");
        let o = RunOptions {
            out: Some(out.clone()),
            ..RunOptions::default()
        };
        train_with(&cfg, &digits::splits().unwrap(), &Device::Cpu, &o).unwrap();
        // Exporting over an existing file replaces it whole, with no temporary left behind.
        let file = dir.path().join("m.ticket");
        std::fs::write(&file, b"an older file").unwrap();
        let t = export(&out, "last").unwrap();
        t.write(&file).unwrap();
        assert_eq!(Ticket::read(&file).unwrap(), t);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            2,
            "run and m.ticket only"
        );
        t
    })
}

/// Whatever parses must also rebuild or fail cleanly.
fn use_it(bytes: &[u8]) {
    if let Ok(t) = Ticket::from_bytes(bytes, Path::new("t.ticket")) {
        let _ = info(&t);
        let _ = rebuild(&t, &Device::Cpu);
    }
}

fn resign(mut body: Vec<u8>) -> Vec<u8> {
    let sum = Sha256::digest(&body);
    body.extend_from_slice(&sum);
    body
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64)))]

    #[test]
    fn flips_and_truncations_are_caught(pos in any::<prop::sample::Index>(), xor in 1u8..,
                                        cut in any::<prop::sample::Index>()) {
        let bytes = base().to_bytes().unwrap();
        let mut b = bytes.clone();
        b[pos.index(bytes.len())] ^= xor;
        let e = Ticket::from_bytes(&b, Path::new("t.ticket")).unwrap_err();
        prop_assert!(e.to_string().contains("t.ticket"), "{}", e);
        let c = cut.index(bytes.len());
        prop_assert!(Ticket::from_bytes(&bytes[..c], Path::new("t.ticket")).is_err());
    }

    /// Flips before the checksum, then a valid checksum: the parser and the rebuild see
    /// damaged content itself.
    #[test]
    fn resigned_flips_never_panic(flips in prop::collection::vec((any::<prop::sample::Index>(), 1u8..), 1..4)) {
        let bytes = base().to_bytes().unwrap();
        let mut body = bytes[..bytes.len() - 32].to_vec();
        for (p, x) in flips {
            let i = p.index(body.len());
            body[i] ^= x;
        }
        use_it(&resign(body));
    }

    /// Crafted headers: wrong lengths, counts, shapes and generations, correctly framed.
    #[test]
    fn crafted_headers_are_errors_not_panics(layer in 0usize..3, field in 0usize..7,
                                             v in prop_oneof![Just(0u64), 1u64..1000, Just(u64::MAX / 3), Just(u64::MAX)]) {
        let mut t = base().clone();
        let l = &mut t.header.layers[layer];
        match field {
            0 => l.mask_bytes = v,
            1 => l.generation_bytes = v,
            2 => l.kept = v,
            3 => l.shape = vec![v as usize, 3],
            4 => l.generation_counts.push(v),
            5 => { if let Some(c) = l.generation_counts.first_mut() { *c = v; } }
            _ => l.generation_values.push(v as u16),
        }
        use_it(&t.to_bytes().unwrap());
    }
}
