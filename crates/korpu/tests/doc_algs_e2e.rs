//! End to end, as a user runs them: `korpu doc sign` with an RSA key made by openssl (PKCS#1
//! v1.5, and RSA-PSS with `--pss`) and a P-384 key, `openssl cms -verify` / our verifier judging
//! the result, and `korpu doc verify --policy FILE` applying a validation policy.
//!
//! Fails (does not skip) when openssl is missing.
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use korpu_testkit::ossl;

mod support;
use support::{text, KORPU};

fn run(cmd: &str, dir: &Path, args: &[&str]) -> Output {
    Command::new(cmd)
        .args(args)
        .current_dir(dir)
        .env("KORPU_LOG", "warn")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd}: {e}"))
}

/// An RSA root and signers with RSA-3072 and P-384 keys (0600 key files).
fn pki(dir: &Path) {
    std::fs::write(
        dir.join("ext.cnf"),
        "[root]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n\
         [leaf]\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,nonRepudiation\n",
    )
    .unwrap();
    ossl::genkey(dir, "root", "rsa2048");
    ossl::self_signed(dir, "root", "/CN=Algs Root", "ext.cnf", "root", &[]);
    for (name, kind) in [("rsa", "rsa3072"), ("p384", "p384")] {
        ossl::genkey(dir, name, kind);
        let key = dir.join(format!("{name}.key"));
        std::fs::set_permissions(key, std::fs::Permissions::from_mode(0o600)).unwrap();
        ossl::issue_by(
            dir,
            name,
            "root",
            &format!("/CN=Algs {name}"),
            "ext.cnf",
            "leaf",
            &[],
        );
    }
}

#[test]
fn doc_sign_with_rsa_and_p384_keys_and_verify_under_a_policy() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    pki(d);
    std::fs::write(d.join("letter.txt"), b"signed with a foreign key type").unwrap();
    let verify_under = |policy: &str, file: &str| {
        run(
            KORPU,
            d,
            &[
                "doc", "verify", "--trust", "root.pem", "--policy", policy, file,
            ],
        )
    };

    for (name, extra) in [("rsa", &[][..]), ("rsa", &["--pss"][..]), ("p384", &[][..])] {
        let out = format!("letter-{name}{}.asice", extra.len());
        let (key, cert) = (format!("{name}.key"), format!("{name}.pem"));
        let mut args = vec![
            "doc", "sign", "--key", &key, "--cert", &cert, "--chain", "root.pem", "--level", "b-b",
        ];
        args.extend(extra);
        args.extend(["letter.txt", &out]);
        let o = run(KORPU, d, &args);
        assert!(o.status.success(), "{}", text(&o));

        // Intact and trusted; a B-B signature carries no revocation data, so offline it is
        // INDETERMINATE/TRY_LATER, never a failure.
        let o = run(KORPU, d, &["doc", "verify", "--trust", "root.pem", &out]);
        let t = text(&o);
        assert!(t.contains("TRY_LATER"), "{t}");
        assert!(!t.contains("TOTAL_FAILED"), "{t}");

        // A policy under which RSA (or EC) keys are not acceptable: INDETERMINATE under the
        // cryptographic constraints, still not failed.
        let only_other = if name == "rsa" { "EC" } else { "RSA" };
        std::fs::write(
            d.join("policy.json"),
            format!(
                r#"{{"name":"only {only_other}","digests":[{{"algorithm":"SHA-256"}}],
                    "keys":[{{"key":"{only_other}","min_bits":256}}]}}"#
            ),
        )
        .unwrap();
        let o = verify_under("policy.json", &out);
        let t = text(&o);
        assert!(!o.status.success(), "{t}");
        assert!(t.contains("CRYPTO_CONSTRAINTS_FAILURE_NO_POE"), "{t}");
        assert!(!t.contains("TOTAL_FAILED"), "{t}");
    }

    // --pss on an EC key is refused with the reason.
    let o = run(
        KORPU,
        d,
        &[
            "doc",
            "sign",
            "--key",
            "p384.key",
            "--cert",
            "p384.pem",
            "--pss",
            "letter.txt",
            "x.asice",
        ],
    );
    assert!(!o.status.success());
    assert!(
        text(&o).contains("--pss applies to RSA keys"),
        "{}",
        text(&o)
    );

    // A policy file that is not one is refused before anything is judged.
    std::fs::write(d.join("bad.json"), "{\"name\": 1}").unwrap();
    let o = verify_under("bad.json", "letter-rsa0.asice");
    assert!(!o.status.success());
    assert!(text(&o).contains("validation policy"), "{}", text(&o));
}
