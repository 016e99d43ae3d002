import Foundation
import TestSupport
import Testing

/// What the binary links: libpq only when settings live in PostgreSQL, opened then (dlopen), so
/// `pack`, `inspect` and a SQLite server run on a machine without libpq5. Checked with `ldd` and
/// with libpq hidden in a mount namespace of the test's own (a bind mount of /dev/null over it).
@Suite(.serialized, .enabled(if: geteuid() == 0, "needs root (a mount namespace hides libpq)"))
struct LinkedLibrariesTests {
    static let libpq = "/usr/lib/x86_64-linux-gnu/libpq.so.5"

    /// Runs the binary with `arguments` where libpq.so.5 cannot be loaded.
    static func runWithoutLibpq(_ arguments: [String]) throws -> TestServer.RunResult {
        let target = URL(fileURLWithPath: libpq).resolvingSymlinksInPath().path
        return try TestServer.run("/usr/bin/unshare", ["--mount", "--propagation", "private", "/bin/sh", "-c",
                                                       "mount --bind /dev/null \"$1\" && shift && exec \"$@\"", "sh", target, TestServer.binary] + arguments)
    }

    @Test func theBinaryDoesNotLinkLibpqAndPacksWithoutIt() throws {
        let linked = try TestServer.run("/usr/bin/ldd", [TestServer.binary])
        try #require(linked.status == 0, "ldd: \(linked.stderr)")
        #expect(linked.stdout.contains("libfcgi"), "ldd lists what the binary links: \(linked.stdout)")
        #expect(!linked.stdout.contains("libpq"), "libpq is opened only for a PostgreSQL store: \(linked.stdout)")

        let directory = TemporaryDirectory()
        directory.write(Array(repeating: 0x5A, count: 4096), to: "disk.img")
        let packed = try Self.runWithoutLibpq(["pack", directory.path + "/disk.rts.png", "--disk", directory.path + "/disk.img", "--name", "Disk"])
        #expect(packed.status == 0, "pack without libpq: \(packed.stderr)")
        let inspected = try Self.runWithoutLibpq(["inspect", directory.path + "/disk.rts.png"])
        #expect(inspected.status == 0 && inspected.stdout.contains("Disk"), "inspect without libpq: \(inspected.stdout) \(inspected.stderr)")
    }

    @Test func aPostgreSQLStoreWithoutLibpqIsRefusedWithASentence() throws {
        let directory = TemporaryDirectory()
        let catalog = directory.subdirectory("catalog")
        let config = """
        { "catalog": { "roots": ["\(catalog)"] },
          "state": { "directory": "\(directory.path)/state", "backend": "postgresql", "postgresql_url": "host=127.0.0.1 port=9 dbname=pxe" } }
        """
        directory.write(Array(config.utf8), to: "config.json")
        let refused = try Self.runWithoutLibpq(["db", "migrate", "--config", directory.path + "/config.json"])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("settings.backend is postgresql, but libpq cannot be loaded"), "stderr: \(refused.stderr)")
        #expect(refused.stderr.contains("libpq5"), "names the package to install: \(refused.stderr)")
        // With libpq present the same configuration gets as far as the (unreachable) server.
        let reached = try TestServer.run(TestServer.binary, ["db", "migrate", "--config", directory.path + "/config.json"])
        #expect(reached.status == 1 && !reached.stderr.contains("libpq cannot be loaded"), "stderr: \(reached.stderr)")
    }
}
