import Foundation
import LineageTestSupport
import Testing

/// `--run CMD`: a Python script judges checkpoints lineage does not run itself, with the
/// `git bisect run` convention, through incident record, replay and blame.
@Suite(.serialized, .enabled(if: testPython != nil, "set LINEAGE_TEST_PYTHON (make test does) to run the runner tests"))
struct BlameRunnerCLITests {
  /// Four checkpoints written by NumPy and safetensors: root → c1 → c2 → c3. Every tensor takes a
  /// small step in each commit; c2 also tampers `b[4]` (class 4 then always wins).
  static let generate = """
    import sys, numpy as np
    from safetensors.numpy import save_file
    rng = np.random.default_rng(7)
    m = {"w": rng.normal(size=(6, 5)).astype(np.float32), "b": np.zeros(5, np.float32), "norm": np.ones(16, np.float32)}
    for k, name in enumerate(["root", "c1", "c2", "c3"]):
        if k:
            m = {n: (v + 0.001 * rng.normal(size=v.shape)).astype(np.float32) for n, v in m.items()}
        if name == "c2":
            m["b"][4] += 100
        import os
        os.makedirs(f"{sys.argv[1]}/{name}", exist_ok=True)
        save_file(m, f"{sys.argv[1]}/{name}/model.safetensors")
    """

  /// The runner: bad (exit 1) when class 4 wins on the incident's input; 125 for one named
  /// commit; the logits go to LINEAGE_OUTPUT.
  static let check = """
    import os, sys, json, numpy as np
    from safetensors.numpy import load_file
    if len(sys.argv) > 1 and os.environ["LINEAGE_COMMIT"] == sys.argv[1]:
        sys.exit(125)
    m = load_file(os.environ["LINEAGE_CHECKPOINT"] + "/model.safetensors")
    x = np.array(json.load(open(os.environ["LINEAGE_INPUT"]))["features"], np.float32)
    assert json.load(open(os.environ["LINEAGE_INCIDENT"]))["oracle"] == "external"
    logits = x @ m["w"] + m["b"]
    logits.astype("<f4").tofile(os.environ["LINEAGE_OUTPUT"])
    sys.exit(1 if (logits.argmax(axis=1) == 4).all() else 0)
    """

  @Test func aPythonRunnerRecordsReplaysAndBlames() throws {
    let python = try #require(testPython)
    let dir = TemporaryDirectory("lineage-runner")
    let d = dir.path
    try Data(Self.generate.utf8).write(to: URL(fileURLWithPath: "\(d)/generate.py"))
    try Data(Self.check.utf8).write(to: URL(fileURLWithPath: "\(d)/check.py"))
    try Data(#"{"features": [[0.5, -1, 0.25, 2, 0, 1], [1, 1, -0.5, 0.3, -2, 0.1]]}"#.utf8).write(to: URL(fileURLWithPath: "\(d)/input.json"))
    let gen = try runProcess(python, ["\(d)/generate.py", "\(d)/m"], in: d)
    #expect(gen.status == 0, "\(gen.stderr)")
    _ = try lineage(["init"], in: d)
    var ids: [String: String] = [:]
    for (k, name) in ["root", "c1", "c2", "c3"].enumerated() {
      let parent = k == 0 ? [] : ["--parent", ["root", "c1", "c2"][k - 1]]
      let out = try lineage(["commit", "m/\(name)", "-m", name, "--tag", name, "--no-environment", "--json"] + parent, in: d)
      ids[name] = (parseJSON(out.stdout) as? [String: Any])?["commit"] as? String
    }
    let run = "'\(python)' check.py"
    let rec = try lineage(["incident", "record", "--commit", "c3", "--input", "input.json", "--run", run, "-m", "class 4 always", "--json"], in: d)
    let incident = try #require((parseJSON(rec.stdout) as? [String: Any])?["incident"] as? String)
    #expect((parseJSON(rec.stdout) as? [String: Any])?["reproduced"] as? Bool == true)

    // Replay: the script's output has the recorded digest; without --run lineage refuses.
    let replay = parseJSON(try lineage(["replay", incident, "--run", run, "--json"], in: d).stdout) as? [String: Any]
    #expect(replay?["verdict"] as? String == "exact" && replay?["reproduces"] as? Bool == true)
    let refused = try LineageBinary.run(["replay", incident], in: d)
    #expect(refused.status != 0 && refused.stderr.contains("--run"))
    let onRoot = parseJSON(try lineage(["replay", incident, "--run", run, "--commit", "root", "--json"], in: d).stdout) as? [String: Any]
    #expect(onRoot?["verdict"] as? String == "diverged" && onRoot?["reproduces"] as? Bool == false)

    // Blame: the first bad commit, the tampered tensor found by hybrid checkouts, a record.
    for search in ["--bisect", "--scan"] {
      let b = try lineage(["blame", incident, "--run", run, search, "--json"], in: d)
      let r = try #require(parseJSON(b.stdout) as? [String: Any])
      #expect(r["outcome"] as? String == "blamed" && r["first_bad"] as? String == ids["c2"], "\(b.stdout)")
      #expect(r["good_parents"] as? [String] == [ids["c1"] ?? ""])
      #expect(r["minimal_set"] as? [String] == ["b"])
      let units = r["units_tested"] as? [[String: Any]] ?? []
      #expect(units.count == 3 && units.filter { $0["revert_fixes"] as? Bool == true }.map { $0["name"] as? String } == ["b"])
      #expect(r["runner"] as? String == run)
      let record = try #require(r["record"] as? String)
      let shown = try lineage(["show", record], in: d).stdout
      #expect(shown.contains("first bad     \(ids["c2"] ?? "?")") && shown.contains("minimal set   b"))
    }
    // An untestable commit (exit 125) is skipped: c1 untestable, so root is the good one and
    // the answer is still c2, with c1 left as a possible culprit.
    let skip = try lineage(["blame", incident, "--run", "\(run) \(ids["c1"] ?? "")", "--scan", "--json", "--no-record"], in: d)
    let s = try #require(parseJSON(skip.stdout) as? [String: Any])
    #expect(s["outcome"] as? String == "blamed" && s["first_bad"] as? String == ids["c2"] && s["record"] is NSNull)
    // A command that is no runner (127: not found) stops blame with its status.
    let broken = try LineageBinary.run(["blame", incident, "--run", "no-such-command-here", "--no-record"], in: d)
    #expect(broken.status == 1 && broken.stderr.contains("gave no verdict") && broken.stderr.contains("exit status 127"), "\(broken.stderr)")
    // The incident's input lives in its record: gc keeps it, fsck re-hashes it, replay still runs.
    _ = try lineage(["gc"], in: d)
    #expect(try lineage(["fsck", "--full"], in: d).stdout.hasPrefix("ok"))
    let again = parseJSON(try lineage(["replay", incident, "--run", run, "--json"], in: d).stdout) as? [String: Any]
    #expect(again?["verdict"] as? String == "exact")
  }
}
