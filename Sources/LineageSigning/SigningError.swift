/// Why a key, signature or allowed-signers file was rejected, or why a signature is not trusted.
///
/// Every case carries the offending detail (an offset into the decoded bytes, a field name, a line
/// number or a value) and never a file-system path: callers add the path when they report it.
public enum SigningError: Error, Equatable, Sendable {
  // MARK: SSH wire encoding

  /// A field needed more bytes than remain; carries the offset where the field starts and its name.
  case truncated(offset: Int, field: String)
  /// Bytes remain after the last field of a structure; carries the structure, offset and count.
  case trailingBytes(structure: String, offset: Int, count: Int)
  /// A text field is not UTF-8 or contains NUL; carries the offset and field.
  case invalidString(offset: Int, field: String)
  /// An mpint has its sign bit set (negative numbers never occur in keys or signatures).
  case negativeMPInt(offset: Int, field: String)
  /// An mpint has a redundant leading zero byte (RFC 4251 §5 requires the shortest form).
  case nonMinimalMPInt(offset: Int, field: String)
  /// An mpint is longer than the field allows; carries the offset, field and byte count.
  case mpintTooLarge(offset: Int, field: String, bytes: Int)

  // MARK: Text encodings

  /// Base64 text holds a character outside the alphabet, bad padding or non-zero padding bits;
  /// carries the offset in the base64 text and the field.
  case invalidBase64(offset: Int, field: String)
  /// Armored text does not start with the expected `-----BEGIN …-----` line.
  case missingArmorHeader(expected: String)
  /// Armored text has no `-----END …-----` line.
  case missingArmorFooter(expected: String)
  /// Something other than white space follows the armor footer; carries the byte count.
  case textAfterArmor(count: Int)
  /// An authorized_keys style line does not have the form `keytype base64 [comment]`.
  case malformedPublicKeyLine(reason: String)
  /// The PEM text could not be decoded by OpenSSL; carries what was expected.
  case invalidPEM(expected: String)

  // MARK: Keys

  /// A key or signature type other than `ssh-ed25519` and `ecdsa-sha2-nistp256`.
  case unsupportedKeyType(String)
  /// Two places that must name the same key type disagree.
  case keyTypeMismatch(field: String, expected: String, found: String)
  /// An ECDSA key names a curve other than `nistp256`.
  case unsupportedCurve(String)
  /// A key or signature field has the wrong length; carries the field, expected and found byte counts.
  case invalidLength(field: String, expected: Int, found: Int)
  /// An ECDSA public point is not an uncompressed point on P-256, or an Ed25519 key is rejected.
  case invalidPublicKey(reason: String)
  /// A private scalar is zero, not below the group order, or otherwise refused by OpenSSL.
  case invalidPrivateKey(reason: String)
  /// The private half does not belong to the public key stored beside it; carries which check.
  case privateKeyMismatch(field: String)

  // MARK: openssh-key-v1

  /// The decoded key does not start with `openssh-key-v1\0`.
  case badKeyMagic
  /// The private key is protected by a passphrase (carries the cipher name); lineage does not
  /// read passphrases.
  case encryptedKeyUnsupported(cipher: String)
  /// A key derivation function other than `none` on an unencrypted key.
  case unsupportedKDF(String)
  /// The `none` KDF came with non-empty options; carries their length.
  case unexpectedKDFOptions(length: Int)
  /// The file holds a number of keys other than one.
  case unsupportedKeyCount(Int)
  /// The private section is empty or not a multiple of the 8-byte block size; carries its length.
  case privateSectionNotAligned(length: Int)
  /// The two check integers differ (a sign of a wrong passphrase or corruption).
  case checkIntegerMismatch(UInt32, UInt32)
  /// Padding bytes are not 1, 2, 3, … or are too many; carries the offset of the first bad byte.
  case invalidPadding(offset: Int)

  // MARK: SSHSIG

  /// The signature blob does not start with `SSHSIG`.
  case badSignatureMagic
  /// An SSHSIG version other than 1.
  case unsupportedSignatureVersion(UInt32)
  /// A hash algorithm other than `sha256` and `sha512`.
  case unsupportedHashAlgorithm(String)
  /// The namespace is empty (PROTOCOL.sshsig forbids it).
  case emptyNamespace
  /// The reserved field is not empty; carries its length (rejected so a blob has one encoding).
  case nonEmptyReserved(length: Int)
  /// The inner signature's algorithm differs from the signing key's type.
  case signatureTypeMismatch(expected: String, found: String)
  /// The inner signature is malformed for its algorithm; carries why.
  case malformedSignature(reason: String)
  /// The signature was made for another namespace.
  case namespaceMismatch(expected: String, found: String)
  /// The signature does not verify for this message and key.
  case badSignature(fingerprint: String)

  // MARK: allowed_signers

  /// An allowed_signers line has a principals field but no key.
  case missingKey(line: Int)
  /// An allowed_signers line has an empty principals field, or a quoted one not followed by a blank.
  case invalidPrincipals(line: Int)
  /// An allowed_signers option is not `cert-authority`, `namespaces`, `valid-after` or `valid-before`.
  case unknownOption(line: Int, option: String)
  /// An allowed_signers option appears twice.
  case duplicateOption(line: Int, option: String)
  /// An allowed_signers option value lacks its opening or closing double quote.
  case unquotedOptionValue(line: Int, option: String)
  /// A `valid-after`/`valid-before` value is not `YYYYMMDD[HHMM[SS]][Z|UTC]` or is not a real time.
  case invalidTime(line: Int, value: String)
  /// `valid-before` is not after `valid-after`.
  case emptyValidityInterval(line: Int)
  /// The key on an allowed_signers line is malformed; carries the line and the key error.
  indirect case invalidSignerKey(line: Int, SigningError)

  // MARK: Trust decisions

  /// No allowed_signers line lists the key; carries its fingerprint.
  case keyNotListed(fingerprint: String)
  /// The key is listed, but not for this principal.
  case principalNotAllowed(principal: String, fingerprint: String)
  /// The key and principal are listed, but the line's `namespaces` excludes this namespace.
  case namespaceNotAllowed(namespace: String, fingerprint: String)
  /// The key is listed with a `valid-after` later than the time checked; both in Unix seconds.
  case keyNotYetValid(validAfter: Int64, time: Int64)
  /// The key is listed with a `valid-before` earlier than the time checked; both in Unix seconds.
  case keyExpired(validBefore: Int64, time: Int64)

  // MARK: OpenSSL

  /// An OpenSSL call failed where no input could be at fault; carries the function name.
  case cryptoFailure(String)
}

extension SigningError: CustomStringConvertible {
  /// One sentence for people; the CLI adds the path and the exit code.
  public var description: String {
    switch self {
    case .truncated(let offset, let field): "truncated at byte \(offset) while reading \(field)"
    case .trailingBytes(let structure, let offset, let count): "\(count) unexpected bytes after the \(structure) at byte \(offset)"
    case .invalidString(let offset, let field): "\(field) at byte \(offset) is not UTF-8 text without NUL"
    case .negativeMPInt(let offset, let field): "\(field) at byte \(offset) is a negative integer"
    case .nonMinimalMPInt(let offset, let field): "\(field) at byte \(offset) has a redundant leading zero"
    case .mpintTooLarge(let offset, let field, let bytes): "\(field) at byte \(offset) is \(bytes) bytes long, too large"
    case .invalidBase64(let offset, let field): "\(field) is not valid base64 (at character \(offset))"
    case .missingArmorHeader(let expected): "the text does not start with \(expected)"
    case .missingArmorFooter(let expected): "the text has no \(expected) line"
    case .textAfterArmor(let count): "\(count) bytes of text follow the armor footer"
    case .malformedPublicKeyLine(let reason): "not a public key line (keytype base64 [comment]): \(reason)"
    case .invalidPEM(let expected): "OpenSSL could not read the PEM text as \(expected)"
    case .unsupportedKeyType(let type): "key type \(type) is not supported; use ssh-ed25519 or ecdsa-sha2-nistp256"
    case .keyTypeMismatch(let field, let expected, let found): "\(field) names \(found) where \(expected) was expected"
    case .unsupportedCurve(let curve): "curve \(curve) is not supported; use nistp256"
    case .invalidLength(let field, let expected, let found): "\(field) is \(found) bytes, expected \(expected)"
    case .invalidPublicKey(let reason): "invalid public key: \(reason)"
    case .invalidPrivateKey(let reason): "invalid private key: \(reason)"
    case .privateKeyMismatch(let field): "the private key does not match its public key (\(field))"
    case .badKeyMagic: "not an openssh-key-v1 private key"
    case .encryptedKeyUnsupported(let cipher):
      "the private key is encrypted with \(cipher); lineage does not read passphrases: use an unencrypted key "
        + "(for example a dedicated signing key) or remove the passphrase with `ssh-keygen -p -N '' -f KEY`"
    case .unsupportedKDF(let kdf): "key derivation \(kdf) is not supported on an unencrypted key"
    case .unexpectedKDFOptions(let length): "the kdf \"none\" has \(length) bytes of options"
    case .unsupportedKeyCount(let n): "the file holds \(n) keys; exactly one is supported"
    case .privateSectionNotAligned(let length): "the private section is \(length) bytes, not a positive multiple of 8"
    case .checkIntegerMismatch(let a, let b): "check integers differ (\(a) ≠ \(b))"
    case .invalidPadding(let offset): "invalid padding at byte \(offset)"
    case .badSignatureMagic: "not an SSH signature (no SSHSIG magic)"
    case .unsupportedSignatureVersion(let v): "SSH signature version \(v) is not supported (only 1)"
    case .unsupportedHashAlgorithm(let h): "hash algorithm \(h) is not supported (sha256, sha512)"
    case .emptyNamespace: "the signature namespace is empty"
    case .nonEmptyReserved(let length): "the reserved field holds \(length) bytes; it must be empty"
    case .signatureTypeMismatch(let expected, let found): "signature type \(found) does not match key type \(expected)"
    case .malformedSignature(let reason): "malformed signature: \(reason)"
    case .namespaceMismatch(let expected, let found): "signature is for namespace \"\(found)\", expected \"\(expected)\""
    case .badSignature(let fingerprint): "signature by \(fingerprint) does not verify"
    case .missingKey(let line): "line \(line): no key"
    case .invalidPrincipals(let line): "line \(line): invalid principals field"
    case .unknownOption(let line, let option): "line \(line): unknown option \(option)"
    case .duplicateOption(let line, let option): "line \(line): option \(option) appears twice"
    case .unquotedOptionValue(let line, let option): "line \(line): the value of \(option) must be in double quotes"
    case .invalidTime(let line, let value): "line \(line): \(value) is not a time YYYYMMDD[HHMM[SS]][Z]"
    case .emptyValidityInterval(let line): "line \(line): valid-before is not after valid-after"
    case .invalidSignerKey(let line, let error): "line \(line): \(error)"
    case .keyNotListed(let fingerprint): "key \(fingerprint) is not in the allowed signers"
    case .principalNotAllowed(let principal, let fingerprint): "key \(fingerprint) is not allowed to sign as \(principal)"
    case .namespaceNotAllowed(let namespace, let fingerprint): "key \(fingerprint) is not allowed to sign in namespace \(namespace)"
    case .keyNotYetValid(let after, let time): "key is not valid until \(after) (checked at \(time), Unix seconds)"
    case .keyExpired(let before, let time): "key expired at \(before) (checked at \(time), Unix seconds)"
    case .cryptoFailure(let function): "OpenSSL failed in \(function)"
    }
  }
}
