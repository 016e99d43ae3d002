import Foundation
import PXECatalog
import TestSupport
import Testing

/// The analyzer command as the worker runs it: results, time limit, failures, stopping.
@Suite struct ContainerAnalyzerTests {
    let directory = TemporaryDirectory()

    /// A shell script in the test's directory, executable.
    func script(_ name: String, _ body: String) -> String {
        let path = directory.write(Array("#!/bin/sh\n\(body)\n".utf8), to: name)
        chmod(path, 0o755)
        return path
    }

    func analyze(_ command: [String], timeout: Duration = .seconds(20), shouldStop: () -> Bool = { false }) -> ContainerAnalyzer.Result? {
        ContainerAnalyzer(command: command, timeout: timeout).analyze(containerPath: "/srv/images/a b.rts.png", thumbnailPath: "/cache/t.png", shouldStop: shouldStop)
    }

    @Test func theCommandsJSONBecomesTheResultAndGetsBothPaths() {
        let fake = script("fake", #"printf '{"description": "Saw %s and %s", "labels": ["penguin", "logo", "penguin", ""]}' "$(basename "$1")" "$2""#)
        #expect(analyze([fake]) == ContainerAnalyzer.Result(description: "Saw a b.rts.png and /cache/t.png", labels: ["penguin", "logo"]))
    }

    @Test func argumentsOfTheCommandComeBeforeThePaths() {
        let fake = script("args", #"printf '{"description": "%s|%s", "labels": []}' "$1" "$2""#)
        #expect(analyze([fake, "--mode", "fast"])?.description == "--mode|fast")
    }

    @Test func controlCharactersAndLengthsAreTamed() {
        let long = String(repeating: "x", count: 5000)
        let fake = script("wild", #"printf '{"description": "one\\u0007two\\n\\tthree %s", "labels": null}' "# + long)
        let result = analyze([fake])
        #expect(result?.description?.hasPrefix("one two three xxx") == true)
        #expect(result?.description?.count == 2000)
        #expect(result?.labels == [])
    }

    @Test func garbageIsAProblemThatSaysSo() {
        let fake = script("garbage", "echo 'this is not json'")
        #expect(analyze([fake]) == .failed("the analyzer garbage printed something other than a JSON object with description and labels"))
        let wrongType = script("wrongtype", #"echo '{"description": 42, "labels": []}'"#)
        #expect(analyze([wrongType])?.problem?.contains("printed something other than a JSON object") == true)
    }

    @Test func aFailingCommandIsAProblemWithItsFirstErrorLine() {
        let fake = script("failing", "echo 'no model loaded' >&2; echo second >&2; exit 3")
        #expect(analyze([fake]) == .failed("the analyzer failing exited with status 3: no model loaded"))
        #expect(analyze([directory.path + "/missing"])?.problem?.hasPrefix("the analyzer missing could not be started: No such file") == true)
    }

    /// A hanging analyzer is killed at the limit with everything it started (its process group).
    @Test func aHangingCommandIsKilledWithItsChildrenAtTheLimit() throws {
        let pidFile = directory.path + "/child.pid"
        let fake = script("hang", "sleep 300 & echo $! > \(pidFile); wait")
        let started = ContinuousClock.now
        let result = analyze([fake], timeout: .seconds(1))
        #expect(result == .failed("the analyzer hang did not finish within 1.0 seconds and was stopped"))
        #expect(ContinuousClock.now - started < .seconds(60), "the limit held")
        let child = try #require(Int32(String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(TestServer.waitFor(seconds: 10) { kill(child, 0) != 0 }, "the analyzer's child was killed too")
    }

    @Test func stoppingKillsTheCommandAndGivesNoResult() {
        let fake = script("slow", "sleep 300")
        let asked = LockedBox(0)
        #expect(analyze([fake], timeout: .seconds(600)) { asked.update { $0 += 1 }; return asked.value > 3 } == nil)
    }

    @Test func outputBeyondTheLimitDoesNotBlockTheCommand() {
        // 1 MB of output: read and dropped past the limit, so the command finishes; the cut JSON is a problem.
        let fake = script("chatty", "head -c 1000000 /dev/zero | tr '\\0' x")
        #expect(analyze([fake])?.problem?.contains("printed something other than") == true)
    }
}
