import CLibGit2

/// Reads the user's git identity through libgit2, as `git commit` would find it.
public enum GitIdentity {
  /// `Name <email>` from the global and system git configuration, or nil when not set.
  ///
  /// libgit2 locates the configuration files itself (from HOME and XDG paths); callers that must
  /// not depend on the environment simply do not call this.
  public static func fromGlobalConfig() -> String? {
    git_libgit2_init()
    defer { git_libgit2_shutdown() }
    var config: OpaquePointer?
    guard git_config_open_default(&config) == 0, let config else { return nil }
    defer { git_config_free(config) }
    func value(_ key: String) -> String? {
      var buf = git_buf()
      defer { git_buf_dispose(&buf) }
      guard git_config_get_string_buf(&buf, config, key) == 0, let ptr = buf.ptr else { return nil }
      return String(cString: ptr)
    }
    guard let name = value("user.name") else { return nil }
    return value("user.email").map { "\(name) <\($0)>" } ?? name
  }
}
