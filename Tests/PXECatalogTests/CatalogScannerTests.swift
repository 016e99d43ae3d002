import Foundation
import PXECatalog
import TestSupport
import Testing

@Suite struct CatalogScannerTests {
    @Test func findsMatchingFilesRecursivelyAndSkipsSidecarsAndHiddenFiles() {
        let root = TemporaryDirectory()
        root.write(PNGFixtures.named("A"), to: "a.rts.png")
        root.write(PNGFixtures.named("B"), to: "deep/er/b.rts.png")
        root.write(PNGFixtures.png(), to: "not-a-container.png")
        root.write(Array("{}".utf8), to: "a.rts.png.meta.json")
        root.write(Array("{}".utf8), to: "a.meta.json")
        root.write(PNGFixtures.png(), to: ".partial.rts.png")
        root.write(PNGFixtures.png(), to: ".hidden/c.rts.png")
        let result = CatalogScanner(roots: [root.path]).scan()
        #expect(result.entries.map(\.relativePath) == ["a.rts.png", "deep/er/b.rts.png"])
        #expect(result.entries.map(\.displayName) == ["A", "B"])
        #expect(result.entries.map(\.id) == [root.path + "/a.rts.png", root.path + "/deep/er/b.rts.png"].map(CatalogEntry.id(forRealPath:)))
        #expect(result.rootProblems.isEmpty)
    }

    /// A root that holds one directory, which holds the rest at several depths (the walk goes
    /// down by one thread before it spreads over the cores): every file once, in path order.
    @Test func aRootWithOneDirectoryOfManyIsWalkedWhole() {
        let root = TemporaryDirectory()
        var written: [String] = []
        for path in ["images/top.rts.png", "images/x/mid.rts.png", "images/x/y/z/deep.rts.png", "images/x/y/z/w/deeper.rts.png"]
            + (0..<12).flatMap({ batch in (0..<3).map { "images/batch-\(batch)/image-\($0).rts.png" } }) {
            root.write(PNGFixtures.named(path), to: path)
            written.append(path)
        }
        let result = CatalogScanner(roots: [root.path]).scan()
        #expect(result.entries.map(\.relativePath) == written.sorted())
        #expect(result.rootProblems.isEmpty)
    }

    @Test func sidecarsAreNeverContainersEvenWithABroadPattern() {
        let scanner = CatalogScanner(roots: [], pattern: "*")
        #expect(!scanner.matches(fileName: "x.rts.png.meta.json"))
        #expect(!scanner.matches(fileName: "x.blueprint.json"))
        #expect(scanner.matches(fileName: "x.rts.png"))
    }

    @Test func displayNameFallsBackToFileNameWithoutSuffix() {
        let root = TemporaryDirectory()
        root.write(PNGFixtures.png(), to: "ubuntu 24.04.rts.png")
        #expect(CatalogScanner(roots: [root.path]).scan().entries.first?.displayName == "ubuntu 24.04")
    }

    @Test func invalidFilesStayListedWithAProblem() {
        let root = TemporaryDirectory()
        root.write(Array("not a png".utf8), to: "junk.rts.png")
        root.write(Array(PNGFixtures.named("T").dropLast(5)), to: "truncated.rts.png")
        root.write(PNGFixtures.named("good"), to: "good.rts.png")
        let entries = CatalogScanner(roots: [root.path]).scan().entries
        #expect(entries.map(\.isValid) == [true, false, false])
        #expect(entries[1].problem == "not a PNG file (missing PNG signature)")
        #expect(entries[2].problem?.hasPrefix("truncated") == true)
        #expect(entries[2].size == Int64(PNGFixtures.named("T").count - 5))
    }

    @Test func followsFileSymlinksOnlyInsideTheirRoot() throws {
        let outside = TemporaryDirectory()
        let secret = outside.write(PNGFixtures.named("outside"), to: "secret.rts.png")
        let root = TemporaryDirectory()
        let target = root.write(PNGFixtures.named("inside"), to: "images/real.rts.png")
        try FileManager.default.createSymbolicLink(atPath: root.path + "/escape.rts.png", withDestinationPath: secret)
        try FileManager.default.createSymbolicLink(atPath: root.path + "/alias.rts.png", withDestinationPath: target)
        try FileManager.default.createSymbolicLink(atPath: root.path + "/loop", withDestinationPath: root.path)
        let entries = CatalogScanner(roots: [root.path]).scan().entries
        // The in-root link resolves to the same file (same id), so it is listed once.
        #expect(entries.map(\.relativePath) == ["images/real.rts.png"])
        #expect(entries.first?.id == CatalogEntry.id(forRealPath: target))
    }

    @Test func rescanReopensOnlyNewOrChangedFiles() throws {
        let root = TemporaryDirectory()
        root.write(PNGFixtures.named("one"), to: "one.rts.png")
        root.write(PNGFixtures.named("two"), to: "two.rts.png")
        let scanner = CatalogScanner(roots: [root.path])
        let first = scanner.scan()
        #expect(first.parsedCount == 2)
        let snapshot = CatalogSnapshot(entries: first.entries, generation: 1)
        root.write(PNGFixtures.named("three"), to: "three.rts.png")
        root.write(PNGFixtures.named("two, renamed inside"), to: "two.rts.png")
        let second = scanner.scan(previous: snapshot)
        #expect(second.parsedCount == 2)
        #expect(second.reusedCount == 1)
        #expect(second.entries.map(\.displayName) == ["one", "three", "two, renamed inside"])
    }

    @Test func reportsAMissingRootAndKeepsScanningTheOthers() {
        let root = TemporaryDirectory()
        root.write(PNGFixtures.png(), to: "x.rts.png")
        let result = CatalogScanner(roots: ["/nonexistent/pxe-root", root.path]).scan()
        #expect(result.entries.count == 1)
        #expect(result.entries.first?.rootIndex == 1)
        #expect(result.rootProblems.count == 1)
    }
}
