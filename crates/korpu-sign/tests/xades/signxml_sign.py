#!/usr/bin/env python3
"""Signs an XML document with an enveloped XAdES signature by signxml (PyPI), for Körpü's tests
(crates/korpu-sign/tests/xades_interop.rs) to validate what signxml makes.

  signxml_sign.py IN.xml KEY.pem CERT.pem[,CA.pem...] OUT.xml SIGNATURE_METHOD_URI C14N_URI DIGEST_URI
"""
import sys

from lxml import etree
from signxml import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.xades import XAdESSigner


def main():
    src, key, certs, out, method, c14n, digest = sys.argv[1:8]
    with open(src, "rb") as f:
        root = etree.fromstring(f.read())
    with open(key, "rb") as f:
        key_pem = f.read()
    chain = []
    for path in certs.split(","):
        with open(path) as f:
            chain.append(f.read())
    signer = XAdESSigner(
        signature_algorithm=SignatureMethod(method),
        digest_algorithm=DigestAlgorithm(digest),
        c14n_algorithm=CanonicalizationMethod(c14n),
    )
    signed = signer.sign(root, key=key_pem, cert=chain)
    with open(out, "wb") as f:
        f.write(etree.tostring(signed))


if __name__ == "__main__":
    main()
