import Foundation
import LineageCore
import LineageKit
import LineageSigning
import LineageTestSupport
import Testing

@Suite struct PolicyTests {
  func policy(_ s: SignedSandbox, _ text: String) throws -> Policy {
    try Policy.load(s.dir.write("lineage.toml", Array(text.utf8)))
  }

  @Test func aPolicyFileIsReadStrictly() throws {
    let s = try SignedSandbox()
    let p = try policy(
      s,
      """
      [policy]
      require_signature = true
      require_data = true
      max_unverified_depth = 0
      allowed_signers = "keys/allowed"
      models = ["*.gguf", "weights/*.bin"]

      [[override]]
      path = "experiments/*"
      require_signature = false
      """)
    #expect(p.rules.requireSignature && p.rules.requireData && p.rules.maxUnverifiedDepth == 0)
    #expect(p.allowedSigners == s.dir.path + "/keys/allowed")
    #expect(!p.rules(for: "experiments/x.gguf").requireSignature && p.rules(for: "prod/x.gguf").requireSignature)
    #expect(p.isModel("a/b/m.gguf") && p.isModel("weights/m.bin") && !p.isModel("other/m.bin"))
    for (text, reason) in [
      ("[policy]\nrequire_signatur = true\n", "unknown key 'require_signatur'"),
      ("[policy]\nrequire_data = \"yes\"\n", "require_data must be true or false"),
      ("[policy]\nmax_unverified_depth = -2\n", "max_unverified_depth must be an integer ≥ -1"),
      ("[[override]]\nrequire_data = true\n", "every [[override]] needs path = \"GLOB\""),
      ("[polcy]\n", "unknown table or key 'polcy'"),
    ] {
      #expect(throws: KitError.policy(path: s.dir.path + "/lineage.toml", reason: reason)) { try policy(s, text) }
    }
  }

  @Test func eachRequirementNamesWhatIsMissingAndHowToFixIt() throws {
    let s = try SignedSandbox()
    let base = try s.sandbox.base()
    _ = try s.commit([base], "unsigned root", tags: ["root"], sign: false)
    let child = try s.sandbox.child(of: base, "ft.safetensors", fraction: 0.5)
    _ = try s.commit([child], "signed child", parents: ["root:finetune"], tags: ["ft"])
    let p = try policy(
      s,
      """
      [policy]
      require_signature = true
      require_data = true
      require_environment = true
      require_code_anchor = true
      require_declared_parents = true
      max_unverified_depth = 0
      """)
    let signers = try s.signers()
    let ft = try s.repo.checkPolicy(revision: "ft", policy: p, signers: signers)
    #expect(!ft.passed)
    #expect(ft.candidates.first?.violations.map(\.rule) == ["require_data", "require_environment", "require_code_anchor", "max_unverified_depth"])
    #expect(ft.candidates.first?.violations.first?.fix.contains("--data") == true)
    let root = try s.repo.checkPolicy(revision: "root", policy: p, signers: signers)
    #expect(root.candidates.first?.violations.map(\.rule).prefix(2) == ["require_signature", "require_data"])
    #expect(root.candidates.first?.violations.contains { $0.rule == "require_declared_parents" } == true)
    // A looser policy: signature and one unverified ancestor allowed.
    let loose = try policy(s, "[policy]\nrequire_signature = true\nmax_unverified_depth = 1\n")
    #expect(try s.repo.checkPolicy(revision: "ft", policy: loose, signers: signers).passed)
    #expect(try !s.repo.checkPolicy(revision: "ft", policy: loose, signers: nil).passed)
  }

  @Test func aFileIsCheckedThroughTheCommitsThatHoldIt() throws {
    let s = try SignedSandbox()
    let base = try s.sandbox.base()
    let p = try policy(s, "[policy]\nrequire_signature = true\n")
    let uncommitted = try s.repo.checkPolicy(file: base, displayPath: "base.safetensors", policy: p, signers: try s.signers())
    #expect(uncommitted.candidates.first?.violations.first?.rule == "committed")
    #expect(uncommitted.candidates.first?.violations.first?.fix.hasPrefix("lineage commit base.safetensors") == true)
    _ = try s.commit([base], "unsigned", sign: false)
    let unsigned = try s.repo.checkPolicy(file: base, displayPath: "base.safetensors", policy: p, signers: try s.signers())
    #expect(unsigned.candidates.first?.violations.first?.message == "signature is unsigned")
    let signed = try s.commit([base], "signed")
    let ok = try s.repo.checkPolicy(file: base, displayPath: "base.safetensors", policy: p, signers: try s.signers())
    #expect(ok.passing == signed.commit)
  }
}
