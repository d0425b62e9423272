/// Who may sign: OpenSSH's allowed_signers file (ssh-keygen(1), ALLOWED SIGNERS).
///
/// Each line is `principals [options] keytype base64-key [comment]`; blank lines and lines whose
/// first non-blank character is `#` are ignored.
/// - `principals`: a comma-separated pattern list (`*`, `?`, `!` negation, as ssh_config(5)
///   PATTERNS); the whole field may be in double quotes, which must be followed by a blank.
/// - options, comma-separated, keywords case-insensitive, values in double quotes (`\"` escapes a
///   quote): `namespaces="pattern-list"`, `valid-after="T"`, `valid-before="T"`, `cert-authority`.
///   T is `YYYYMMDD`, `YYYYMMDDHHMM` or `YYYYMMDDHHMMSS`, optionally followed by `Z` or `UTC`.
///
/// Differences from OpenSSH, all on the side of refusing:
/// - Times without `Z`/`UTC` are local time in OpenSSH. A library must not read the time zone, so
///   they are read as local time at the fixed `localTimeOffset` given to `init` (default 0, i.e.
///   UTC). Write `Z` to mean the same thing everywhere.
/// - `cert-authority` lines are parsed and kept but never match: lineage does not accept SSH
///   certificates, and OpenSSH never matches such a line against a plain key either.
/// - Lines whose key type is a real SSH type lineage cannot verify with (`ssh-rsa`, `ssh-dss`,
///   other ECDSA curves, security-key and certificate types) are skipped and listed in
///   `ignoredLines` rather than failing the whole file.
public struct AllowedSigners: Sendable {
  /// One usable line.
  public struct Entry: Sendable, Equatable {
    /// 1-based line number in the text.
    public var line: Int
    /// The principals field as written (a comma-separated pattern list, quotes removed).
    public var principalPatterns: String
    /// The key allowed to sign as those principals.
    public var key: SSHPublicKey
    /// The `namespaces` pattern list; nil when absent (every namespace allowed).
    public var namespaces: String?
    /// `valid-after` in Unix seconds: the key may not sign earlier.
    public var validAfter: Int64?
    /// `valid-before` in Unix seconds: the key may not sign later.
    public var validBefore: Int64?
    /// The line carries `cert-authority` (so it never matches; see the type's documentation).
    public var isCertificateAuthority: Bool

    /// The principal patterns, split at commas.
    public var principals: [String] { principalPatterns.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
  }

  /// The usable lines, in file order.
  public private(set) var entries: [Entry] = []
  /// Line numbers (1-based) of well-formed lines skipped for an unsupported key type.
  public private(set) var ignoredLines: [Int] = []

  /// Parse allowed_signers text; a malformed line fails with an error naming its line number.
  ///
  /// `localTimeOffset` (seconds east of UTC) is applied to times written without `Z`/`UTC`.
  public init(text: String, localTimeOffset: Int64 = 0) throws(SigningError) {
    var number = 0
    for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
      number += 1
      var line = Array(raw.utf8)
      if line.last == 13 { line.removeLast() }
      switch try Self.parseLine(line, number: number, localTimeOffset: localTimeOffset) {
      case .blank: break
      case .ignored: ignoredLines.append(number)
      case .entry(let e): entries.append(e)
      }
    }
  }

  /// The principals of the first line that lists `key`, allows `namespace` and is valid at `time`
  /// (Unix seconds), split at commas as `ssh-keygen -Y find-principals` prints them; empty when none.
  ///
  /// Unlike `ssh-keygen -Y find-principals`, which ignores `namespaces`, lines that exclude
  /// `namespace` are skipped.
  public func principals(for key: SSHPublicKey, namespace: String, at time: Int64) -> [String] {
    for e in entries where usable(e, key: key) && namespaceAllowed(e, namespace) && validity(e, at: time) == nil {
      return e.principals
    }
    return []
  }

  /// Succeed when a line lists `key` for `principal`, allows `namespace` and is valid at `time`
  /// (Unix seconds), as `ssh-keygen -Y verify -I principal -n namespace` decides.
  ///
  /// Otherwise the error names the furthest any line got: `keyNotListed`, `principalNotAllowed`,
  /// `namespaceNotAllowed`, then `keyNotYetValid` or `keyExpired` for the first such line.
  public func check(key: SSHPublicKey, principal: String, namespace: String, at time: Int64) throws(SigningError) {
    let withKey = entries.filter { usable($0, key: key) }
    guard !withKey.isEmpty else { throw .keyNotListed(fingerprint: key.fingerprint) }
    let withPrincipal = withKey.filter { PatternList.matches(principal, $0.principalPatterns) }
    guard !withPrincipal.isEmpty else { throw .principalNotAllowed(principal: principal, fingerprint: key.fingerprint) }
    let inNamespace = withPrincipal.filter { namespaceAllowed($0, namespace) }
    guard let first = inNamespace.first else { throw .namespaceNotAllowed(namespace: namespace, fingerprint: key.fingerprint) }
    if inNamespace.contains(where: { validity($0, at: time) == nil }) { return }
    if let error = validity(first, at: time) { throw error }
  }

  private func usable(_ e: Entry, key: SSHPublicKey) -> Bool { !e.isCertificateAuthority && e.key == key }

  private func namespaceAllowed(_ e: Entry, _ namespace: String) -> Bool {
    guard let patterns = e.namespaces else { return true }
    return PatternList.matches(namespace, patterns)
  }

  /// nil when `time` is inside the line's window; both bounds are inclusive, as in OpenSSH.
  private func validity(_ e: Entry, at time: Int64) -> SigningError? {
    if let after = e.validAfter, time < after { return .keyNotYetValid(validAfter: after, time: time) }
    if let before = e.validBefore, time > before { return .keyExpired(validBefore: before, time: time) }
    return nil
  }

  // MARK: Line parsing

  private enum Line {
    case blank
    case ignored
    case entry(Entry)
  }

  private static func isBlank(_ c: UInt8) -> Bool { c == 32 || c == 9 }

  /// Key type names OpenSSH knows but lineage cannot verify with.
  private static let otherKeyTypes: Set<String> = [
    "ssh-rsa", "ssh-dss", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com", "ssh-xmss@openssh.com",
  ]

  private static func isOtherKeyType(_ name: String) -> Bool {
    otherKeyTypes.contains(name) || name.hasSuffix("-cert-v01@openssh.com")
  }

  private static func parseLine(_ line: [UInt8], number: Int, localTimeOffset: Int64) throws(SigningError) -> Line {
    var i = 0
    func skipBlanks() { while i < line.count && isBlank(line[i]) { i += 1 } }
    func token() -> String {
      let start = i
      while i < line.count && !isBlank(line[i]) { i += 1 }
      return String(decoding: line[start..<i], as: UTF8.self)
    }
    skipBlanks()
    guard i < line.count, line[i] != UInt8(ascii: "#") else { return .blank }

    // Principals: one blank-free field, or one double-quoted field.
    let principals: String
    if line[i] == UInt8(ascii: "\"") {
      let start = i + 1
      guard let close = line[start...].firstIndex(of: UInt8(ascii: "\"")) else { throw .invalidPrincipals(line: number) }
      principals = String(decoding: line[start..<close], as: UTF8.self)
      i = close + 1
      guard i == line.count || isBlank(line[i]) else { throw .invalidPrincipals(line: number) }
    } else {
      principals = token()
    }
    guard !principals.isEmpty else { throw .invalidPrincipals(line: number) }
    skipBlanks()
    guard i < line.count else { throw .missingKey(line: number) }

    // Options come first unless the next field is already a key type.
    let save = i
    let peek = token()
    i = save
    var options = Options()
    if SigningKeyType(rawValue: peek) == nil && !isOtherKeyType(peek) {
      options = try parseOptions(line, &i, number: number, localTimeOffset: localTimeOffset)
      skipBlanks()
      guard i < line.count else { throw .missingKey(line: number) }
    }
    let keyText = String(decoding: line[i...], as: UTF8.self)
    let keyType = keyText.prefix { $0 != " " && $0 != "\t" }
    if isOtherKeyType(String(keyType)) { return .ignored }
    let key: SSHPublicKey
    do {
      key = try SSHPublicKey(authorizedKey: keyText)
    } catch {
      throw .invalidSignerKey(line: number, error)
    }
    return .entry(
      Entry(
        line: number, principalPatterns: principals, key: key, namespaces: options.namespaces, validAfter: options.validAfter,
        validBefore: options.validBefore, isCertificateAuthority: options.certificateAuthority))
  }

  private struct Options {
    var certificateAuthority = false
    var namespaces: String?
    var validAfter: Int64?
    var validBefore: Int64?
  }

  /// Parse `opt[,opt…]` from `i` up to the first blank outside quotes (sshsigopt_parse).
  private static func parseOptions(_ line: [UInt8], _ i: inout Int, number: Int, localTimeOffset: Int64) throws(SigningError)
    -> Options
  {
    var o = Options()
    func keyword(_ word: String) -> Bool {
      let w = Array(word.utf8)
      guard i + w.count <= line.count else { return false }
      return zip(line[i..<(i + w.count)], w).allSatisfy { lower($0) == $1 }
    }
    func atEndOfOption(_ j: Int) -> Bool { j == line.count || line[j] == UInt8(ascii: ",") || isBlank(line[j]) }
    while i < line.count && !isBlank(line[i]) {
      if keyword("cert-authority") && atEndOfOption(i + 14) {
        o.certificateAuthority = true
        i += 14
      } else if keyword("namespaces=") {
        guard o.namespaces == nil else { throw .duplicateOption(line: number, option: "namespaces") }
        i += 11
        o.namespaces = try dequote(line, &i, number: number, option: "namespaces")
      } else if keyword("valid-after=") {
        guard o.validAfter == nil else { throw .duplicateOption(line: number, option: "valid-after") }
        i += 12
        let v = try dequote(line, &i, number: number, option: "valid-after")
        o.validAfter = try parseTime(v, number: number, localTimeOffset: localTimeOffset)
      } else if keyword("valid-before=") {
        guard o.validBefore == nil else { throw .duplicateOption(line: number, option: "valid-before") }
        i += 13
        let v = try dequote(line, &i, number: number, option: "valid-before")
        o.validBefore = try parseTime(v, number: number, localTimeOffset: localTimeOffset)
      } else {
        let start = i
        while !atEndOfOption(i) && line[i] != UInt8(ascii: "=") { i += 1 }
        throw .unknownOption(line: number, option: String(decoding: line[start..<i], as: UTF8.self))
      }
      if i == line.count || isBlank(line[i]) { break }
      guard line[i] == UInt8(ascii: ",") else {
        let start = i
        while !atEndOfOption(i) { i += 1 }
        throw .unknownOption(line: number, option: String(decoding: line[start..<max(i, start + 1)], as: UTF8.self))
      }
      i += 1
      guard i < line.count, !isBlank(line[i]) else { throw .unknownOption(line: number, option: "") }
    }
    if let a = o.validAfter, let b = o.validBefore, b <= a { throw .emptyValidityInterval(line: number) }
    return o
  }

  private static func lower(_ c: UInt8) -> UInt8 { c >= 65 && c <= 90 ? c + 32 : c }

  /// A double-quoted value with `\"` unescaped (OpenSSH `opt_dequote`).
  private static func dequote(_ line: [UInt8], _ i: inout Int, number: Int, option: String) throws(SigningError) -> String {
    guard i < line.count, line[i] == UInt8(ascii: "\"") else { throw .unquotedOptionValue(line: number, option: option) }
    i += 1
    var out = [UInt8]()
    while i < line.count && line[i] != UInt8(ascii: "\"") {
      if line[i] == UInt8(ascii: "\\") && i + 1 < line.count && line[i + 1] == UInt8(ascii: "\"") { i += 1 }
      out.append(line[i])
      i += 1
    }
    guard i < line.count else { throw .unquotedOptionValue(line: number, option: option) }
    i += 1
    return String(decoding: out, as: UTF8.self)
  }

  /// `YYYYMMDD[HHMM[SS]]` with an optional `Z`/`UTC` suffix, as Unix seconds (OpenSSH
  /// `parse_absolute_time`); times without a suffix are shifted by `localTimeOffset`.
  static func parseTime(_ text: String, number: Int, localTimeOffset: Int64) throws(SigningError) -> Int64 {
    var digits = Array(text.utf8)
    var utc = false
    if digits.count > 1, let last = digits.last, lower(last) == UInt8(ascii: "z") {
      utc = true
      digits.removeLast()
    } else if digits.count > 3, digits.suffix(3).map(lower) == Array("utc".utf8) {
      utc = true
      digits.removeLast(3)
    }
    let bad = SigningError.invalidTime(line: number, value: text)
    guard [8, 12, 14].contains(digits.count), digits.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { throw bad }
    func field(_ from: Int, _ length: Int) -> Int64 {
      digits[from..<(from + length)].reduce(Int64(0)) { $0 * 10 + Int64($1 - 48) }
    }
    let year = field(0, 4)
    let month = field(4, 2)
    let day = field(6, 2)
    let hour = digits.count >= 12 ? field(8, 2) : 0
    let minute = digits.count >= 12 ? field(10, 2) : 0
    let second = digits.count == 14 ? field(12, 2) : 0
    guard (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year), hour < 24, minute < 60, second < 60 else {
      throw bad
    }
    let seconds = daysFromCivil(year: year, month: month, day: day) * 86_400 + hour * 3600 + minute * 60 + second
    let result = utc ? seconds : seconds - localTimeOffset
    // OpenSSH treats 0 as "no limit" and refuses times before 1970.
    guard result > 0 else { throw bad }
    return result
  }

  private static func daysIn(month: Int64, year: Int64) -> Int64 {
    switch month {
    case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
    case 4, 6, 9, 11: 30
    default: 31
    }
  }

  /// Days since 1970-01-01 in the proleptic Gregorian calendar (H. Hinnant's `days_from_civil`).
  private static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
    let y = month <= 2 ? year - 1 : year
    let era = (y >= 0 ? y : y - 399) / 400
    let yoe = y - era * 400
    let mp = (month + 9) % 12
    let doy = (153 * mp + 2) / 5 + day - 1
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
    return era * 146_097 + doe - 719_468
  }
}

/// OpenSSH pattern lists (ssh_config(5) PATTERNS, `match_pattern_list` without lower-casing).
enum PatternList {
  /// True when some pattern matches `string` and no negated (`!`) pattern does.
  static func matches(_ string: String, _ list: String) -> Bool {
    let s = Array(string.utf8)
    var positive = false
    for raw in list.utf8.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) {
      let negated = raw.first == UInt8(ascii: "!")
      let pattern = Array(negated ? raw.dropFirst() : raw[...])
      if matchPattern(s[...], pattern[...]) {
        if negated { return false }
        positive = true
      }
    }
    return positive
  }

  /// `*` matches any run of bytes, `?` exactly one byte; anything else itself.
  static func matchPattern(_ s: ArraySlice<UInt8>, _ p: ArraySlice<UInt8>) -> Bool {
    var si = s.startIndex
    var pi = p.startIndex
    var star: Int?
    var resume = si
    while si < s.endIndex {
      if pi < p.endIndex && (p[pi] == UInt8(ascii: "?") || p[pi] == s[si]) {
        si += 1
        pi += 1
      } else if pi < p.endIndex && p[pi] == UInt8(ascii: "*") {
        star = pi
        pi += 1
        resume = si
      } else if let st = star {
        pi = st + 1
        resume += 1
        si = resume
      } else {
        return false
      }
    }
    while pi < p.endIndex && p[pi] == UInt8(ascii: "*") { pi += 1 }
    return pi == p.endIndex
  }
}
