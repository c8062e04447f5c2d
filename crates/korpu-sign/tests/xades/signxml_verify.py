#!/usr/bin/env python3
"""Verifies the XAdES signature of an extracted ASiC-E container with signxml (PyPI), as the
outside judge of what Körpü signs (crates/korpu-sign/tests/xades_interop.rs): the signature
value (RSA PKCS#1 v1.5, RSA-PSS, ECDSA), every reference (the container's files resolved from
DIR, the SignedProperties), the XAdES signed properties, and the signer's chain to CA.

  signxml_verify.py DIR CA.pem
"""
import os
import sys
from urllib.parse import unquote

from lxml import etree
from signxml import SignatureConfiguration, SignatureMethod
from signxml.xades import XAdESVerifier


def main():
    root_dir, ca = sys.argv[1], sys.argv[2]
    names = [n for n in os.listdir(os.path.join(root_dir, "META-INF")) if "signatures" in n]
    if not names:
        sys.exit("no signatures file")
    with open(os.path.join(root_dir, "META-INF", names[0]), "rb") as f:
        doc = etree.fromstring(f.read())
    sig = doc.find("{http://www.w3.org/2000/09/xmldsig#}Signature")
    refs = len(sig.findall("{http://www.w3.org/2000/09/xmldsig#}SignedInfo/{http://www.w3.org/2000/09/xmldsig#}Reference"))

    def resolve(uri):
        with open(os.path.join(root_dir, unquote(uri)), "rb") as f:
            return f.read()

    config = SignatureConfiguration(
        signature_methods=frozenset(SignatureMethod),
        require_x509=True,
    )
    results = XAdESVerifier().verify(
        sig,
        ca_pem_file=ca,
        uri_resolver=resolve,
        expect_config=config,
        expect_references=refs,
    )
    print(f"OK {len(results)} references")


if __name__ == "__main__":
    main()
