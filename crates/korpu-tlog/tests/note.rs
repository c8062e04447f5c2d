//! Checkpoints and signed notes: the C2SP spec examples, round trips, the attacks a verifier
//! must refuse, and Cloudflare's `signed_note` crate reading ours and writing notes we read.
use korpu_tlog::checkpoint::{split_note, NoteSignature};
use korpu_tlog::{sign_note, verify_note, Checkpoint, NoteError, NoteSigner, NoteVerifier};

/// From c2sp.org/signed-note, "Verifier keys / Example".
const SPEC_VKEY: &str = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
const SPEC_NOTE: &str = "This is an example message.\n\n\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";

fn checkpoint(size: u64) -> Checkpoint {
    Checkpoint {
        origin: "ledger.gw1.korpu.test/v1".into(),
        size,
        root: [size as u8; 32],
    }
}

fn signer() -> NoteSigner {
    NoteSigner::generate("ledger.gw1.korpu.test/v1").unwrap()
}

#[test]
fn spec_example_verifies() {
    let v: NoteVerifier = SPEC_VKEY.parse().unwrap();
    assert_eq!(v.name(), "example.com/foo");
    assert_eq!(v.key_id(), 0x530d903a);
    assert_eq!(v.to_vkey(), SPEC_VKEY);
    assert_eq!(
        verify_note(SPEC_NOTE, std::slice::from_ref(&v)).unwrap(),
        "This is an example message.\n"
    );
    // One changed character in the text: the known key's signature fails, the note is refused.
    let altered = SPEC_NOTE.replace("example message", "example massage");
    assert!(matches!(
        verify_note(&altered, &[v]),
        Err(NoteError::BadNoteSignature { .. })
    ));
}

#[test]
fn spec_vkey_with_wrong_id_is_refused() {
    let wrong = SPEC_VKEY.replace("530d903a", "530d903b");
    assert!(NoteVerifier::from_vkey(&wrong).is_err());
    for bad in [
        "example.com/foo",
        "example.com/foo+530d903a",
        "example.com/foo+530d90+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "example.com/foo+530d903a+AmkyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "example.com/foo+530d903a+Aeky",
        "+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
    ] {
        assert!(NoteVerifier::from_vkey(bad).is_err(), "{bad}");
    }
}

#[test]
fn checkpoint_note_round_trip() {
    let s = signer();
    let cp = checkpoint(20852163);
    let note = sign_note(&cp.to_body(), &s).unwrap();
    assert!(note.starts_with("ledger.gw1.korpu.test/v1\n20852163\n"));
    assert!(note.contains("\n\n\u{2014} ledger.gw1.korpu.test/v1 "));
    assert!(note.ends_with('\n'));
    let body = verify_note(&note, &[s.verifier()]).unwrap();
    assert_eq!(body, cp.to_body());
    assert_eq!(Checkpoint::parse_body(&body).unwrap(), cp);

    // The vkey form survives a round trip and still verifies.
    let v = NoteVerifier::from_vkey(&s.verifier().to_string()).unwrap();
    assert_eq!(v, s.verifier());
    verify_note(&note, &[v]).unwrap();

    // Key id = SHA-256(name || 0x0A || 0x01 || key)[:4], and it leads every signature.
    let (_, sigs) = split_note(&note).unwrap();
    assert_eq!(sigs.len(), 1);
    assert_eq!(sigs[0].key_id, s.key_id());
    assert_eq!(sigs[0].signature.len(), 64);
}

#[test]
fn another_key_changed_body_and_wrong_name_fail() {
    let s = signer();
    let cp = checkpoint(5);
    let note = sign_note(&cp.to_body(), &s).unwrap();

    // Signed by another key with the same name: its id differs, so it is not a trusted
    // signature at all.
    let impostor = signer();
    let forged = sign_note(&cp.to_body(), &impostor).unwrap();
    assert!(matches!(
        verify_note(&forged, &[s.verifier()]),
        Err(NoteError::NoTrustedSignature { .. })
    ));

    // The body changed after signing (a different tree size).
    let changed = note.replacen("\n5\n", "\n6\n", 1);
    assert_ne!(changed, note);
    assert!(matches!(
        verify_note(&changed, &[s.verifier()]),
        Err(NoteError::BadNoteSignature { .. })
    ));

    // The right key under another name has another id and another name: not trusted.
    let renamed = NoteVerifier::new("ledger.gw2.korpu.test/v1", *s.verifier().key()).unwrap();
    assert!(matches!(
        verify_note(&note, &[renamed]),
        Err(NoteError::NoTrustedSignature { .. })
    ));

    // The signature line renamed to another name: not trusted either.
    let relabelled = note.replace(
        "\u{2014} ledger.gw1.korpu.test/v1 ",
        "\u{2014} ledger.gw9.korpu.test/v1 ",
    );
    assert!(verify_note(&relabelled, &[s.verifier()]).is_err());

    // A signature that claims the trusted name and key id but is someone else's: refused as a
    // bad signature, not skipped.
    let (text, _) = split_note(&forged).unwrap();
    let (_, their) = split_note(&forged).unwrap();
    let spoof = format!(
        "{text}\n\u{2014} {} {}\n",
        s.name(),
        b64(&[&s.key_id().to_be_bytes()[..], &their[0].signature].concat())
    );
    assert!(matches!(
        verify_note(&spoof, &[s.verifier()]),
        Err(NoteError::BadNoteSignature { .. })
    ));

    // No verifiers at all.
    assert!(verify_note(&note, &[]).is_err());
}

fn b64(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

#[test]
fn unknown_cosignatures_are_ignored() {
    let s = signer();
    let witness = NoteSigner::generate("witness.example/w1").unwrap();
    let note = sign_note(&checkpoint(9).to_body(), &s).unwrap();
    let (_, wsig) = split_note(&sign_note(&checkpoint(9).to_body(), &witness).unwrap()).unwrap();
    let cosigned = format!("{note}{}\n", line(&wsig[0]));
    // Only the log key trusted: the witness line is ignored.
    verify_note(&cosigned, &[s.verifier()]).unwrap();
    // Both trusted: both verify.
    verify_note(&cosigned, &[s.verifier(), witness.verifier()]).unwrap();
    // Only the witness trusted: fine too.
    verify_note(&cosigned, &[witness.verifier()]).unwrap();
}

fn line(sig: &NoteSignature) -> String {
    format!(
        "\u{2014} {} {}",
        sig.name,
        b64(&[&sig.key_id.to_be_bytes()[..], &sig.signature].concat())
    )
}

#[test]
fn malformed_notes_are_refused() {
    let s = signer();
    let note = sign_note(&checkpoint(3).to_body(), &s).unwrap();
    let v = [s.verifier()];
    let cases = [
        note.replace("\n\n", "\n"),                // no blank line
        note.trim_end_matches('\n').to_string(),   // last line unterminated
        note.replace('\u{2014}', "-"),             // not an em dash
        note.replacen("ledger", "led\u{7}ger", 1), // control character
        format!("{note}\u{2014} x\n"),             // line without a signature
        format!("{note}\u{2014} x AAAA\n"),        // signature shorter than 5 bytes
        format!("{note}\u{2014} x !!!!\n"),        // not base64
        note.replace("\n\n", "\n\n\n"),            // an empty signature line
    ];
    for (i, bad) in cases.iter().enumerate() {
        assert!(verify_note(bad, &v).is_err(), "case {i} verifies: {bad:?}");
    }
    // Text that cannot be a note is not signed.
    assert!(sign_note("no newline", &s).is_err());
    assert!(sign_note("bell\u{7}\n", &s).is_err());
    // Names with spaces or '+' cannot sign.
    assert!(NoteSigner::generate("a b").is_err());
    assert!(NoteSigner::generate("a+b").is_err());
}

#[test]
fn key_encodings_round_trip() {
    let s = signer();
    let again = NoteSigner::from_skey(&s.to_skey()).unwrap();
    assert_eq!(again.verifier(), s.verifier());
    let der = s.to_pkcs8_der().unwrap();
    let again = NoteSigner::from_pkcs8_der(s.name(), &der).unwrap();
    assert_eq!(again.verifier(), s.verifier());
    assert!(NoteSigner::from_skey(&s.to_skey().replace("PRIVATE+KEY+", "PRIVATE+KYE+")).is_err());
    // Debug never shows the key.
    let shown = format!("{s:?}");
    assert!(
        !shown.contains(&s.to_skey()[s.to_skey().len() - 20..]),
        "{shown}"
    );
}

/// Cloudflare's implementation verifies our notes, and its notes (same key, same text) are
/// byte-for-byte ours, since Ed25519 signatures are deterministic.
#[test]
fn signed_note_crate_interoperates() {
    use signed_note::{Note, StandardSigner, StandardVerifier, VerifierList};

    let s = signer();
    let body = checkpoint(424242).to_body();
    let ours = sign_note(&body, &s).unwrap();

    let their_verifier = StandardVerifier::new(&s.verifier().to_vkey()).unwrap();
    let parsed = Note::from_bytes(ours.as_bytes()).unwrap();
    let (verified, unverified) = parsed
        .verify(&VerifierList::new(vec![Box::new(their_verifier)]))
        .unwrap();
    assert_eq!((verified.len(), unverified.len()), (1, 0));
    assert_eq!(parsed.text(), body.as_bytes());

    let their_signer = StandardSigner::new(&s.to_skey()).unwrap();
    let mut theirs = Note::new(body.as_bytes(), &[]).unwrap();
    theirs.add_sigs(&[&their_signer]).unwrap();
    let theirs = String::from_utf8(theirs.to_bytes()).unwrap();
    assert_eq!(theirs, ours);
    assert_eq!(verify_note(&theirs, &[s.verifier()]).unwrap(), body);

    // A key generated by their side, read through its vkey.
    let (skey, vkey) = signed_note::generate_key(&mut rand_core::OsRng, "other.example/log");
    let their_signer = StandardSigner::new(&skey).unwrap();
    let mut n = Note::new(b"hello\n", &[]).unwrap();
    n.add_sigs(&[&their_signer]).unwrap();
    let text = String::from_utf8(n.to_bytes()).unwrap();
    let v = NoteVerifier::from_vkey(&vkey).unwrap();
    assert_eq!(verify_note(&text, &[v]).unwrap(), "hello\n");
    assert_eq!(NoteSigner::from_skey(&skey).unwrap().to_skey(), skey);
}
