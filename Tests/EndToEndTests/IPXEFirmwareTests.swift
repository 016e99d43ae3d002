import Foundation
import PXECatalog
import TestSupport
import Testing

/// Debian's iPXE ROM in QEMU (software emulation) boots from the real nginx + worker. Everything
/// runs in a network namespace of the test's own with only loopback, so the guest (whose host
/// is 10.0.2.2 through QEMU's user networking) can reach nothing but the test server.
@Suite(.serialized, .enabled(if: FirmwareAvailability.canRun, "needs root, qemu-system-x86_64 and Debian's ipxe-qemu ROM"))
struct IPXEFirmwareTests {
    /// A namespace with loopback up; removed by `deinit`.
    final class Namespace {
        let name = "pxe-e2e-\(getpid())-\(UInt16.random(in: 0...UInt16.max))"
        init() throws {
            try #require(try TestServer.run("/usr/sbin/ip", ["netns", "add", name]).status == 0)
            try #require(try TestServer.run("/usr/sbin/ip", ["netns", "exec", name, "ip", "link", "set", "lo", "up"]).status == 0)
        }
        deinit { _ = try? TestServer.run("/usr/sbin/ip", ["netns", "del", name]) }
    }

    /// Boots a VM until `done` holds for (serial output, access log) or `seconds` pass; stops QEMU by PID.
    func boot(_ server: TestServer, seconds: Double, until done: (String, String) -> Bool) throws -> (serial: String, access: String) {
        let serialPath = server.directory.path + "/serial.log"
        let qemu = Process()
        (qemu.executableURL, qemu.arguments) = server.inNamespace("/usr/bin/qemu-system-x86_64", [
            "-machine", "pc,graphics=off", "-m", "256", "-display", "none", "-monitor", "none",
            "-serial", "file:\(serialPath)", "-boot", "n", "-no-reboot",
            "-netdev", "user,id=net0,bootfile=http://10.0.2.2:\(server.port)/pxe/boot.ipxe",
            "-device", "e1000,netdev=net0",
        ])
        qemu.standardOutput = FileHandle.nullDevice
        qemu.standardError = FileHandle.nullDevice
        try qemu.run()
        defer {
            if qemu.isRunning {
                kill(qemu.processIdentifier, SIGTERM)
                if !TestServer.waitFor(seconds: 5, { !qemu.isRunning }) { kill(qemu.processIdentifier, SIGKILL) }
            }
            qemu.waitUntilExit()
        }
        var serial = ""
        _ = TestServer.waitFor(seconds: seconds) {
            serial = Self.plainText((try? String(contentsOfFile: serialPath, encoding: .isoLatin1)) ?? "")
            return done(serial, server.accessLog)
        }
        return (serial, server.accessLog)
    }

    /// Serial output without terminal escape sequences.
    static func plainText(_ raw: String) -> String {
        raw.replacingOccurrences(of: "\u{1B}\\[[0-9;?]*[A-Za-z]", with: " ", options: .regularExpression)
    }

    static func server(namespace: Namespace, menu: String) throws -> (TestServer, String, Int) {
        let server = TestServer(extraConfig: #""menu": \#(menu)"#, namespace: namespace.name)
        // Over 632 KiB: iPXE runs smaller unrecognised images as PXE programs (and hangs in them);
        // a larger one is refused with "Exec format error", which is what a PNG should get.
        let payload = DemoBytes.make(count: 1 << 20)
        let container = PNGFixtures.pixelRTS(payload: payload, fields: [("name", .string("Firmware test image"))])
        let path = server.directory.write(container, to: "catalog/firmware.rts.png")
        server.directory.write(PNGFixtures.named("Second image"), to: "catalog/second.rts.png")
        try server.start()
        return (server, CatalogEntry.id(forRealPath: path), container.count)
    }

    @Test func firmwareFetchesTheMenuAndBootsTheDefaultEntryAfterTheTimeout() throws {
        let namespace = try Namespace()
        let (server, id, size) = try Self.server(namespace: namespace, menu: #"{"default": "first", "timeout": 2, "title": "Firmware test"}"#)
        defer { server.stop() }
        let (serial, access) = try boot(server, seconds: 150) { serial, _ in serial.contains("Booting from local disk") }

        #expect(access.contains("\"GET /pxe/boot.ipxe HTTP/1.1\" 200"), "access log:\n\(access)")
        #expect(access.contains("\"GET /pxe/menu.ipxe HTTP/1.1\" 200"))
        #expect(access.contains("\"GET /containers/\(id) HTTP/1.1\" 200 \(size) "), "the whole container was sent")
        #expect(access.contains("iPXE/"))
        #expect(serial.contains("Firmware test"), "the menu was shown")
        #expect(serial.contains("Booting Firmware test image"))
        #expect(serial.contains("Exec format error"), "iPXE cannot execute a PNG")
        #expect(serial.contains("Could not boot Firmware test image. Back to the menu"), "the failure returns to the menu")
        #expect(serial.contains("Booting from local disk"), "after a failure the default becomes the local disk: no loop")
        #expect(access.components(separatedBy: "GET /containers/").count == 2, "the failing entry was fetched once")
    }

    @Test func localDefaultBootsFromTheLocalDisk() throws {
        let namespace = try Namespace()
        let (server, _, _) = try Self.server(namespace: namespace, menu: #"{"default": "local", "timeout": 1}"#)
        defer { server.stop() }
        let (serial, access) = try boot(server, seconds: 120) { serial, _ in serial.contains("Booting from local disk") }
        #expect(access.contains("\"GET /pxe/menu.ipxe HTTP/1.1\" 200"), "access log:\n\(access)")
        #expect(serial.contains("Booting from local disk"))
        #expect(!access.contains("GET /containers/"), "no container was fetched")
    }
}

enum FirmwareAvailability {
    static var canRun: Bool {
        geteuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/qemu-system-x86_64")
            && FileManager.default.fileExists(atPath: "/usr/lib/ipxe/qemu/efi-e1000.rom")
    }
}
