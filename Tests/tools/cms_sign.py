#!/usr/bin/env python3
"""Independent CMS (PKCS#7 SignedData) signer for Axis tests, built on Python `cryptography` (and asn1crypto).

It exists so the Axis verifier is tested against a second implementation besides the `openssl`
command-line tool. Run by Tests/AxisTests/Support/TestPKI.swift; usable by hand too:

    python3 Tests/tools/cms_sign.py --cert leaf.pem --key leaf.key --in doc.bin --out doc.p7s \
        [--hash sha256|sha384|sha512] [--pss] [--no-attributes] [--certfile intermediate.pem ...] \
        [--no-certs] [--attached] [--pem]

Defaults: detached signature, DER output, SHA-256, RSA PKCS#1 v1.5 for RSA keys, signed attributes
(contentType, signingTime, messageDigest, SMIMECapabilities) present, signer certificate included.

Limits of cryptography's PKCS7SignatureBuilder (checked against cryptography 48): only RSA and EC
signer keys (no Ed25519/Ed448), hashes SHA-224/256/384/512. RSA-PSS is supported through
`rsa_padding=padding.PSS(...)`; this script uses MGF1 with the signing hash and a salt as long as the
digest.

Ed25519 keys (RFC 8419) are signed without the builder: the SignedData is assembled with asn1crypto
(`sign_ed25519`) and only the signature value comes from cryptography's Ed25519 primitive. RFC 8419
fixes the digest (SHA-512, so `--hash` must be sha512 for them) and the signature algorithm
(id-Ed25519, parameters absent); the signed attributes are contentType, signingTime (UTCTime, now)
and messageDigest, and the signature covers their DER as a SET OF (RFC 5652 §5.4), or the content
itself with --no-attributes. --pss does not apply.

Exit status 3 means "this combination is not supported by the library" (the message says which), so
callers can skip rather than fail; 4 means `cryptography` (or, for Ed25519, `asn1crypto`) is not
installed; any other failure exits 1 or 2.
"""
import argparse
import datetime
import hashlib
import sys

UNSUPPORTED = 3
MISSING_LIBRARY = 4


def load_certificates(x509, pem: bytes):
    """Every certificate in a PEM bundle (load_pem_x509_certificates needs cryptography 39+)."""
    end = b"-----END CERTIFICATE-----"
    return [x509.load_pem_x509_certificate(block + end) for block in pem.split(end) if b"-----BEGIN" in block]


def sign_ed25519(args, key, certificate_pem: bytes, data: bytes) -> int:
    """A CMS SignedData (RFC 5652) with one Ed25519 SignerInfo (RFC 8419), built with asn1crypto."""
    try:
        from asn1crypto import algos, cms, core, pem, x509 as asn1_x509
    except ImportError as error:
        print(f"cms_sign.py: Python 'asn1crypto' is not installed ({error}); Ed25519 needs it", file=sys.stderr)
        return MISSING_LIBRARY
    if args.hash != "sha512":
        print(f"cms_sign.py: unsupported: Ed25519 in CMS digests with SHA-512 only (RFC 8419 §3.1), not {args.hash}",
              file=sys.stderr)
        return UNSUPPORTED

    def certificates_in(pem_bytes: bytes):
        return [asn1_x509.Certificate.load(der) for _, _, der in pem.unarmor(pem_bytes, multiple=True)]

    signer = certificates_in(certificate_pem)[0]
    # id-sha512 with its parameters absent (RFC 8419 §3.1; asn1crypto writes NULL unless told otherwise).
    sha512 = algos.DigestAlgorithm({"algorithm": "sha512", "parameters": None})

    signed_attrs = None
    if args.no_attributes:
        to_be_signed = data
    else:
        now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        signed_attrs = cms.CMSAttributes([
            cms.CMSAttribute({"type": "content_type", "values": [cms.ContentType("data")]}),
            cms.CMSAttribute({"type": "signing_time", "values": [cms.Time({"utc_time": core.UTCTime(now)})]}),
            cms.CMSAttribute({"type": "message_digest", "values": [core.OctetString(hashlib.sha512(data).digest())]}),
        ])
        # Standalone, CMSAttributes is a universal SET OF (tag 0x31) and asn1crypto sorts the elements
        # by their DER: exactly what RFC 5652 §5.4 says the signature covers. Inside SignerInfo the same
        # contents get the IMPLICIT [0] tag (0xA0).
        to_be_signed = signed_attrs.dump(force=True)
        if to_be_signed[0] != 0x31:
            raise AssertionError(f"signed attributes encode with tag {to_be_signed[0]:#04x}, not a SET OF")

    signer_info = {
        "version": "v1",
        "sid": cms.SignerIdentifier({"issuer_and_serial_number": cms.IssuerAndSerialNumber({
            "issuer": signer.issuer, "serial_number": signer.serial_number})}),
        "digest_algorithm": sha512,
        "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": "ed25519"}),
        "signature": core.OctetString(key.sign(to_be_signed)),
    }
    if signed_attrs is not None:
        signer_info["signed_attrs"] = signed_attrs

    certificates = []
    if not args.no_certs:
        certificates.append(signer)
        for path in args.certfile:
            with open(path, "rb") as f:
                certificates.extend(certificates_in(f.read()))

    encap = {"content_type": "data"}
    if args.attached:
        encap["content"] = core.OctetString(data)
    signed_data = {
        "version": "v1",
        "digest_algorithms": [sha512],
        "encap_content_info": encap,
        "signer_infos": [cms.SignerInfo(signer_info)],
    }
    if certificates:
        signed_data["certificates"] = [cms.CertificateChoices({"certificate": c}) for c in certificates]
    content_info = cms.ContentInfo({"content_type": "signed_data", "content": cms.SignedData(signed_data)})
    der = content_info.dump()
    with open(args.out, "wb") as f:
        f.write(pem.armor("PKCS7", der) if args.pem else der)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cert", required=True, help="signer certificate (PEM)")
    parser.add_argument("--key", required=True, help="signer private key (PEM, unencrypted)")
    parser.add_argument("--in", dest="input", required=True, help="content to sign")
    parser.add_argument("--out", required=True, help="where to write the signature")
    parser.add_argument("--hash", default="sha256", choices=["sha256", "sha384", "sha512"])
    parser.add_argument("--pss", action="store_true", help="RSA-PSS instead of PKCS#1 v1.5")
    parser.add_argument("--no-attributes", action="store_true", help="no signed attributes")
    parser.add_argument("--certfile", action="append", default=[], help="extra certificate(s) to include (PEM)")
    parser.add_argument("--no-certs", action="store_true", help="include no certificates at all")
    parser.add_argument("--attached", action="store_true", help="embed the content (default: detached)")
    parser.add_argument("--pem", action="store_true", help="PEM output (default: DER)")
    args = parser.parse_args()

    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
        from cryptography.hazmat.primitives.serialization import pkcs7
        from cryptography import __version__ as version
    except ImportError as error:
        print(f"cms_sign.py: Python 'cryptography' is not installed ({error})", file=sys.stderr)
        return MISSING_LIBRARY

    with open(args.cert, "rb") as f:
        certificate_pem = f.read()
    certificate = x509.load_pem_x509_certificate(certificate_pem)
    with open(args.key, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    with open(args.input, "rb") as f:
        data = f.read()

    if isinstance(key, ed25519.Ed25519PrivateKey):
        if args.pss:
            print("cms_sign.py: unsupported: --pss needs an RSA key", file=sys.stderr)
            return UNSUPPORTED
        return sign_ed25519(args, key, certificate_pem, data)
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        print(f"cms_sign.py: unsupported: this script signs with RSA, EC and Ed25519 keys only, "
              f"not {type(key).__name__}", file=sys.stderr)
        return UNSUPPORTED
    if args.pss and not isinstance(key, rsa.RSAPrivateKey):
        print("cms_sign.py: unsupported: --pss needs an RSA key", file=sys.stderr)
        return UNSUPPORTED

    hash_algorithm = {"sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}[args.hash]()
    padding_choice = None
    if args.pss:
        padding_choice = padding.PSS(mgf=padding.MGF1(hash_algorithm), salt_length=padding.PSS.DIGEST_LENGTH)

    builder = pkcs7.PKCS7SignatureBuilder().set_data(data)
    try:
        if padding_choice is None:
            builder = builder.add_signer(certificate, key, hash_algorithm)
        else:
            # `rsa_padding` is newer than PKCS7SignatureBuilder itself: an old library raises TypeError.
            builder = builder.add_signer(certificate, key, hash_algorithm, rsa_padding=padding_choice)
    except TypeError as error:
        print(f"cms_sign.py: unsupported by cryptography {version}: {error}", file=sys.stderr)
        return UNSUPPORTED
    for path in args.certfile:
        with open(path, "rb") as f:
            for extra in load_certificates(x509, f.read()):
                builder = builder.add_certificate(extra)

    options = [pkcs7.PKCS7Options.Binary]
    if not args.attached:
        options.append(pkcs7.PKCS7Options.DetachedSignature)
    if args.no_attributes:
        options.append(pkcs7.PKCS7Options.NoAttributes)
    if args.no_certs:
        options.append(pkcs7.PKCS7Options.NoCerts)
    encoding = serialization.Encoding.PEM if args.pem else serialization.Encoding.DER
    signature = builder.sign(encoding, options)

    with open(args.out, "wb") as f:
        f.write(signature)
    return 0


if __name__ == "__main__":
    sys.exit(main())
