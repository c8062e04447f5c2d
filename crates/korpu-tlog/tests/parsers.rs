//! The parsers of outside input (checkpoint bodies, signed notes, vkeys and skeys, tlog-proof
//! files, tiles) on arbitrary and on mutated input: they return errors, never panic,
//! and a tlog-proof changed anywhere that matters no longer verifies.
use korpu_tlog::checkpoint::split_note;
use korpu_tlog::merkle::{inclusion_proof, leaf_hash, root, HashSource};
use korpu_tlog::tiles::TileSource;
use korpu_tlog::{sign_note, verify_note, Checkpoint, NoteSigner, NoteVerifier, TlogProof};
use proptest::prelude::*;

const ORIGIN: &str = "ledger.gw1.korpu.test/v1";

/// A verifying tlog-proof for leaf `index` of a tree of `size` leaves whose data are the
/// indexes' big-endian bytes, the leaf data in the `extra` line.
fn proof_for(signer: &NoteSigner, size: u64, index: u64) -> TlogProof {
    let leaves: Vec<_> = (0..size).map(|i| leaf_hash(&i.to_be_bytes())).collect();
    let cp = Checkpoint {
        origin: ORIGIN.into(),
        size,
        root: root(&leaves),
    };
    TlogProof {
        extra: Some(index.to_be_bytes().to_vec()),
        index,
        proof: inclusion_proof(&leaves, index),
        checkpoint: sign_note(&cp.to_body(), signer).unwrap(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn parsers_refuse_arbitrary_text_without_panicking(s in "\\PC*", b in any::<Vec<u8>>()) {
        let v = NoteSigner::generate(ORIGIN).unwrap().verifier();
        let _ = Checkpoint::parse_body(&s);
        let _ = split_note(&s);
        prop_assert!(verify_note(&s, std::slice::from_ref(&v)).is_err());
        let _ = NoteVerifier::from_vkey(&s);
        let _ = NoteSigner::from_skey(&s);
        let _ = TlogProof::parse(&s);
        let _ = NoteSigner::from_pkcs8_der(ORIGIN, &b);
        let tiles = TileSource::new(b.len() as u64 * 300);
        let _ = tiles.insert(&s, &b);
        let _ = tiles.subtree_hash(0, 1 + b.len() as u64);
    }

    #[test]
    fn tlog_proofs_round_trip_and_verify(size in 1u64..300, pick in any::<u64>()) {
        let signer = NoteSigner::generate(ORIGIN).unwrap();
        let index = pick % size;
        let p = proof_for(&signer, size, index);
        let parsed = TlogProof::parse(&p.to_text()).unwrap();
        prop_assert_eq!(&parsed, &p);
        let leaf = leaf_hash(&index.to_be_bytes());
        let cp = parsed.verify_leaf(&leaf, &[signer.verifier()]).unwrap();
        prop_assert_eq!(cp.size, size);
    }

    #[test]
    fn a_tlog_proof_changed_in_one_byte_does_not_verify(
        size in 2u64..300,
        pick in any::<u64>(),
        at in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let signer = NoteSigner::generate(ORIGIN).unwrap();
        let index = pick % size;
        let text = proof_for(&signer, size, index).to_text();
        let mut bytes = text.into_bytes();
        let i = at.index(bytes.len());
        bytes[i] ^= 1 << bit;
        let Ok(s) = String::from_utf8(bytes) else { return Ok(()) };
        let Ok(p) = TlogProof::parse(&s) else { return Ok(()) };
        let Some(extra) = p.extra.clone() else { return Ok(()) };
        // Whatever still parses must not prove the (possibly changed) leaf at the (possibly
        // changed) index, unless the change was to bytes the format ignores (none here: base64
        // padding bits are checked by the decoder, the note is verified byte for byte).
        let verified = p.verify_leaf(&leaf_hash(&extra), &[signer.verifier()]);
        prop_assert!(verified.is_err(), "{s:?} still verifies");
    }
}
