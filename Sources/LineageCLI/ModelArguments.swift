import Foundation
import LineageForensics
import LineageKit

extension RepositoryOptions {
  /// The model a command-line argument names: a path (a model file or directory), else `REV` or
  /// `REV:DIR` in the repository. `repo` is nil outside a repository, where only paths work.
  func modelTensors(_ spec: String, in repo: Repository?) throws -> ModelTensors {
    let path = path(spec)
    // Paths work outside a repository too: the store is not needed.
    if FileManager.default.fileExists(atPath: path) || repo == nil { return try Repository.modelTensors(atPath: path) }
    let (revision, directory) = splitRevision(spec)
    return try (repo ?? open()).modelTensors(revision: revision, directory: directory)
  }
}
