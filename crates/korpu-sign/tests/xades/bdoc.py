#!/usr/bin/env python3
"""Makes or verifies an ASiC-E (BDOC) container with XAdES signatures by pyasice, for Körpü's
interoperability tests (crates/korpu-sign/tests/xades_interop.rs).

  bdoc.py sign --key K.pem --cert C.pem [--hash sha256] [--add] OUT FILE...
  bdoc.py verify CONTAINER
"""
import argparse
import os
import re
import sys

# oscrypto 1.3.0 (under pyasice) reads the OpenSSL version with a pattern that misses two-digit
# patch numbers ("3.0.19") and refuses to load; widen that one pattern while it imports.
_search = re.search


def _search_patched(pattern, string, *args, **kwargs):
    if pattern == "\\b(\\d\\.\\d\\.\\d[a-z]*)\\b":
        pattern = "\\b(\\d\\.\\d+\\.\\d+[a-z]*)\\b"
    return _search(pattern, string, *args, **kwargs)


re.search = _search_patched
import oscrypto.asymmetric  # noqa: E402,F401

re.search = _search

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature  # noqa: E402
from pyasice import Container  # noqa: E402

HASHES = {"sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}


def sign(args):
    with open(args.key, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    with open(args.cert, "rb") as f:
        cert_der = x509.load_pem_x509_certificate(f.read()).public_bytes(serialization.Encoding.DER)
    if args.add:
        container = Container.open(args.out)
    else:
        container = Container()
        for path in args.files:
            with open(path, "rb") as f:
                container.add_file(os.path.basename(path), f.read(), "application/octet-stream")
    xs = container.prepare_signature(cert_der, args.hash)
    if args.data_digest == "sha3-256":
        # A digest algorithm validators may lack, for the "unsupported is not forged" test.
        import base64
        import hashlib

        for ref in xs.xml.findall('.//ds:SignedInfo/ds:Reference[@Type=""]', xs.NAMESPACES):
            with container.open_file(ref.attrib["URI"]) as f:
                value = hashlib.sha3_256(f.read()).digest()
            ref.find("ds:DigestMethod", xs.NAMESPACES).attrib["Algorithm"] = (
                "http://www.w3.org/2007/05/xmldsig-more#sha3-256"
            )
            ref.find("ds:DigestValue", xs.NAMESPACES).text = base64.b64encode(value)
    method = xs._get_node("ds:SignatureMethod")
    n = {"sha256": 256, "sha384": 384, "sha512": 512}[args.hash]
    # pyasice knows PKCS#1 v1.5 and ECDSA; RSA-PSS (RFC 6931) and Ed25519 (RFC 9231) are set
    # here, before SignedInfo is canonicalised and signed.
    if args.pss_params:
        # RFC 6931 §2.3.10: the generic rsa-pss identifier with explicit RSAPSSParams (digest
        # as --hash, MGF1 with the same digest, a salt of 32 bytes whatever the digest).
        from lxml import etree

        more = "http://www.w3.org/2007/05/xmldsig-more#"
        ds = "http://www.w3.org/2000/09/xmldsig#"
        method.attrib["Algorithm"] = more + "rsa-pss"
        params = etree.SubElement(method, "{%s}RSAPSSParams" % more, nsmap={"pss": more})
        etree.SubElement(params, "{%s}DigestMethod" % ds).attrib["Algorithm"] = {
            256: "http://www.w3.org/2001/04/xmlenc#sha256",
            384: "http://www.w3.org/2001/04/xmldsig-more#sha384",
            512: "http://www.w3.org/2001/04/xmlenc#sha512",
        }[n]
        mgf = etree.SubElement(params, "{%s}MaskGenerationFunction" % more)
        mgf.attrib["Algorithm"] = more + "MGF1"
        etree.SubElement(mgf, "{%s}DigestMethod" % ds).attrib["Algorithm"] = params[0].attrib["Algorithm"]
        etree.SubElement(params, "{%s}SaltLength" % more).text = "32"
    elif args.pss:
        method.attrib["Algorithm"] = f"http://www.w3.org/2007/05/xmldsig-more#sha{n}-rsa-MGF1"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        method.attrib["Algorithm"] = "http://www.w3.org/2021/04/xmldsig-more#eddsa-ed25519"
    data = xs.signed_data()
    h = HASHES[args.hash]()
    if isinstance(key, ed25519.Ed25519PrivateKey):
        value = key.sign(data)
    elif args.pss_params:
        value = key.sign(data, padding.PSS(padding.MGF1(h), 32), h)
    elif args.pss:
        value = key.sign(data, padding.PSS(padding.MGF1(h), h.digest_size), h)
    elif isinstance(key, ec.EllipticCurvePrivateKey) and args.ecdsa_der:
        # What some signers write although XML-DSig says raw (pyasice accepts it too).
        value = key.sign(data, ec.ECDSA(h))
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        # XML-DSig wants the raw r||s value, not DER (RFC 4050, XMLDSig 1.1 §6.4.3).
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(h)))
        n = (key.curve.key_size + 7) // 8
        value = r.to_bytes(n, "big") + s.to_bytes(n, "big")
    elif isinstance(key, rsa.RSAPrivateKey):
        value = key.sign(data, padding.PKCS1v15(), h)
    else:
        sys.exit("unsupported key type")
    xs.set_signature_value(value)
    if args.tsa:
        # LT-TS (XAdES B-LT): a signature time-stamp over the canonical SignatureValue and the
        # signer's OCSP status, both fetched over HTTP by pyasice and embedded.
        # (pyasice's finalize_signature is not used as a whole: it sends the BDOC-TM nonce, a
        # 51-byte DigestInfo that RFC 8954 responders refuse, and checks only RSA-signed OCSP
        # answers; its TSA client and its XAdES embedding are used as they are.)
        import requests
        from asn1crypto.ocsp import OCSPResponse
        from pyasice.ocsp import OCSP
        from pyasice.tsa import TSA

        with open(args.issuer, "rb") as f:
            issuer_der = x509.load_pem_x509_certificate(f.read()).public_bytes(serialization.Encoding.DER)
        # (Nor its TSA.verify, which takes the token's first certificate for the TSA's.)
        xs.set_timestamp_response(TSA(args.tsa).get_timestamp(xs.get_timestamped_message()))
        req = OCSP.build_ocsp_request(cert_der, issuer_der)
        resp = requests.post(args.ocsp, data=req.dump(), headers={"Content-Type": OCSP.REQUEST_CONTENT_TYPE})
        resp.raise_for_status()
        ocsp = OCSP(args.ocsp)
        ocsp.ocsp_response = OCSPResponse.load(resp.content)
        if ocsp.ocsp_response["response_status"].native != "successful":
            sys.exit("OCSP: " + ocsp.ocsp_response["response_status"].native)
        xs.set_ocsp_response(ocsp)
        # B-LT carries the validation data: the issuing CA's certificate among CertificateValues.
        import base64
        from lxml import etree

        values = xs._get_node("xades:CertificateValues")
        enc = etree.SubElement(values, "{http://uri.etsi.org/01903/v1.3.2#}EncapsulatedX509Certificate")
        enc.text = base64.b64encode(issuer_der)
    else:
        xs.remove_timestamp_node()
    if not (args.pss or args.pss_params or isinstance(key, ed25519.Ed25519PrivateKey)):
        xs.verify()  # pyasice's own check knows only what it makes
    container.add_signature(xs)
    container.save(args.out)


def verify(args):
    container = Container.open(args.container)
    n = 0
    for xs, name in container.iter_signatures_with_filenames():
        xs.verify()
        # pyasice checks SignedInfo's signature; check the references to the files as well.
        import base64
        import hashlib

        for ref in xs.xml.findall(".//ds:SignedInfo/ds:Reference", xs.NAMESPACES):
            uri = ref.attrib.get("URI", "")
            if uri.startswith("#"):
                continue
            from urllib.parse import unquote

            with container.open_file(unquote(uri)) as f:
                digest = hashlib.sha256(f.read()).digest()
            want = base64.b64decode(ref.find("ds:DigestValue", xs.NAMESPACES).text)
            if digest != want:
                sys.exit(f"{name}: reference {uri} does not match")
        old, new = xs._calc_signed_properties_hash()
        if old != new:
            sys.exit(f"{name}: SignedProperties digest does not match")
        n += 1
    if n == 0:
        sys.exit("no signature")
    print(f"OK {n} signature(s)")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sign")
    s.add_argument("--key", required=True)
    s.add_argument("--cert", required=True)
    s.add_argument("--hash", default="sha256", choices=sorted(HASHES))
    s.add_argument("--add", action="store_true", help="add a signature to the container OUT")
    s.add_argument("--data-digest", default="", choices=["", "sha3-256"])
    s.add_argument("--pss", action="store_true", help="RSA-PSS (sha*-rsa-MGF1) instead of PKCS#1 v1.5")
    s.add_argument("--pss-params", action="store_true", help="RSA-PSS as rsa-pss with RSAPSSParams")
    s.add_argument("--ecdsa-der", action="store_true", help="write the ECDSA value in DER, not raw")
    s.add_argument("--tsa", help="RFC 3161 TSA URL: make an LT-TS signature (needs --ocsp, --issuer)")
    s.add_argument("--ocsp", help="OCSP responder URL")
    s.add_argument("--issuer", help="the signer's issuing CA certificate (PEM)")
    s.add_argument("out")
    s.add_argument("files", nargs="*")
    v = sub.add_parser("verify")
    v.add_argument("container")
    args = ap.parse_args()
    sign(args) if args.cmd == "sign" else verify(args)


if __name__ == "__main__":
    main()
