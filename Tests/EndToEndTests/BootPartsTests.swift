import Foundation
import PXECatalog
import PixelRTS
import StrictJSON
import TestSupport
import Testing

/// Containers made with `pxe-catalog pack`, prepared by the worker, their parts sent by nginx.
@Suite(.serialized) struct BootPartsTests {
    static func pack(_ arguments: [String]) throws {
        let result = try TestServer.run(TestServer.binary, ["pack"] + arguments)
        try #require(result.status == 0, "pack failed: \(result.stderr)")
    }

    /// The `boot` objects of the listing by file name, once no entry is pending.
    static func bootObjects(_ server: TestServer) -> [String: JSONValue] {
        var objects: [String: JSONValue] = [:]
        _ = TestServer.waitFor(seconds: 120) {
            guard let body = try? server.request("GET", "/containers").body, case let .array(items)? = try? JSONParser.parse(body)["containers"] else { return false }
            objects = [:]
            for item in items { if let name = item["filename"]?.stringValue, let boot = item["boot"] { objects[name] = boot } }
            return !objects.isEmpty && objects.values.allSatisfy { !["pending", "preparing"].contains($0["state"]?.stringValue ?? "") }
        }
        return objects
    }

    @Test func packedContainersArePreparedAndTheirPartsDownloadByteIdentical() throws {
        let server = TestServer()
        let inputs = server.directory.subdirectory("inputs")
        var kernel = PixelRTSFixtures.noise(count: 2_500_000, seed: 21)
        kernel.replaceSubrange(0x202..<0x206, with: Array("HdrS".utf8))
        let initrd = PixelRTSFixtures.noise(count: 900_000, seed: 22)
        var disk = PixelRTSFixtures.noise(count: 20 << 20, seed: 23)
        disk[510] = 0x55
        disk[511] = 0xAA
        server.directory.write(kernel, to: "inputs/vmlinuz")
        server.directory.write(initrd, to: "inputs/initrd.img")
        server.directory.write(disk, to: "inputs/disk.img")
        try Self.pack([server.catalogRoot + "/linux.rts.png", "--kernel", inputs + "/vmlinuz", "--initrd", inputs + "/initrd.img",
                       "--cmdline", "console=ttyS0 quiet", "--name", "Linux"])
        try Self.pack([server.catalogRoot + "/zstd.rts.png", "--kernel", inputs + "/vmlinuz", "--initrd", inputs + "/initrd.img", "--compress", "zstd"])
        try Self.pack([server.catalogRoot + "/disk.rts.png", "--disk", inputs + "/disk.img", "--name", "Disk"])
        // A tampered copy: one byte of its image data changed.
        var tampered = [UInt8](try Data(contentsOf: URL(fileURLWithPath: server.catalogRoot + "/linux.rts.png")))
        tampered[tampered.count / 2] ^= 0x01
        server.directory.write(tampered, to: "catalog/tampered.rts.png")
        try server.start()
        defer { server.stop() }

        let boot = Self.bootObjects(server)
        #expect(boot["linux.rts.png"]?["kind"] == .string("linux"))
        #expect(boot["linux.rts.png"]?["ready"] == .bool(true))
        #expect(boot["linux.rts.png"]?["verified"] == .bool(true))
        #expect(boot["linux.rts.png"]?["cmdline"] == .string("console=ttyS0 quiet"))
        #expect(boot["linux.rts.png"]?["parts"]?["kernel"]?["size"] == .int(2_500_000))
        #expect(boot["zstd.rts.png"]?["ready"] == .bool(true))
        #expect(boot["disk.rts.png"]?["kind"] == .string("disk"))
        #expect(boot["tampered.rts.png"]?["verified"] == .bool(false))
        #expect(boot["tampered.rts.png"]?["ready"] == .bool(false))

        let linux = CatalogEntry.id(forRealPath: server.catalogRoot + "/linux.rts.png")
        let zstd = CatalogEntry.id(forRealPath: server.catalogRoot + "/zstd.rts.png")
        let diskID = CatalogEntry.id(forRealPath: server.catalogRoot + "/disk.rts.png")
        let tamperedID = CatalogEntry.id(forRealPath: server.catalogRoot + "/tampered.rts.png")
        func same(_ path: String, _ expected: [UInt8]) throws -> Bool {
            let response = try server.request("GET", path)
            return response.status == 200 && response.body == expected
        }
        #expect(try same("/containers/\(linux)/kernel", kernel))
        #expect(try same("/containers/\(linux)/initrd", initrd))
        #expect(try same("/containers/\(linux)/payload", kernel + initrd))
        #expect(try same("/containers/\(zstd)/kernel", kernel))
        #expect(try same("/containers/\(zstd)/initrd", initrd))
        #expect(try same("/containers/\(diskID)/disk", disk))

        // nginx does Range and HEAD on the cache, as iPXE's SAN boot needs.
        let range = try server.request("GET", "/containers/\(diskID)/disk", headers: ["Range: bytes=510-1023"])
        #expect(range.status == 206)
        #expect(range.body == Array(disk[510...1023]))
        #expect(range.headers["content-range"] == "bytes 510-1023/\(20 << 20)")
        let head = try server.request("HEAD", "/containers/\(linux)/kernel")
        #expect(head.status == 200 && head.headers["content-length"] == "2500000")

        #expect(try server.request("GET", "/containers/\(linux)/disk").status == 404)
        let refused = try server.request("GET", "/containers/\(tamperedID)/kernel")
        #expect(refused.status == 409)
        #expect(try JSONParser.parse(refused.body)["error"]?.stringValue?.contains("CRC mismatch") == true)
        // The cache itself is not reachable from outside.
        #expect(try server.request("GET", "/_pxe_internal/cache/").status == 404)

        let status = try JSONParser.parse(server.request("GET", "/status").body)["boot"]
        #expect(status?["ready"] == .int(3))
        #expect(status?["failed"] == .int(1))
    }

    /// A full disk while preparing: that entry says why, the cache keeps nothing half-written,
    /// everything else goes on; once there is room it is prepared on its own.
    @Test(.enabled(if: geteuid() == 0, "mounting a tmpfs needs root"))
    func aFullDiskWhilePreparingLeavesTheCacheConsistent() throws {
        let mountPoint = TemporaryDirectory("pxe-catalog-tmpfs")
        let mounted = try TestServer.run("/bin/mount", ["-t", "tmpfs", "-o", "size=6m", "tmpfs", mountPoint.path])
        try #require(mounted.status == 0, "mount failed: \(mounted.stderr)")
        defer { _ = try? TestServer.run("/bin/umount", ["-l", mountPoint.path]) }
        let server = TestServer(extraConfig: #""boot": {"cache_directory": "\#(mountPoint.path)/cache", "retry_after_seconds": 1}"#)
        server.directory.write(PNGFixtures.pixelRTS(payload: PixelRTSFixtures.noise(count: 7 << 20, seed: 31)), to: "catalog/big.rts.png")
        server.directory.write(PNGFixtures.named("Plain"), to: "catalog/plain.rts.png")
        try server.start()
        defer { server.stop() }
        let boot = Self.bootObjects(server)
        #expect(boot["big.rts.png"]?["state"] == .string("not_prepared"))
        #expect(boot["big.rts.png"]?["problem"]?.stringValue?.contains("No space left on device") == true)
        // Nothing half-written is left: no part directory, and only whole thumbnails (no temporaries).
        let cache = mountPoint.path + "/cache"
        #expect(try FileManager.default.contentsOfDirectory(atPath: cache).filter { $0 != "thumbnails" }.isEmpty)
        let thumbnails = (try? FileManager.default.contentsOfDirectory(atPath: cache + "/thumbnails")) ?? []
        #expect(thumbnails.allSatisfy { $0.count == 68 && $0.hasSuffix(".png") }, "\(thumbnails)")
        #expect(try server.request("GET", "/pxe/menu.ipxe").status == 200)

        // Room again (a larger file system in its place): prepared without anyone asking.
        #expect(try TestServer.run("/bin/mount", ["-o", "remount,size=64m", mountPoint.path]).status == 0)
        #expect(TestServer.waitFor(seconds: 60) { Self.bootObjects(server)["big.rts.png"]?["state"] == .string("ready") })
    }

    /// Preparing a large payload does not hold it (or the image) in the worker's memory: the
    /// decoder keeps one band of rows and writes the payload straight to a file.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["E2E_SANITIZER"] == nil, "sanitizers add their own memory"))
    func theWorkersMemoryStaysFlatWhileItPreparesALargePayload() throws {
        let server = TestServer()
        server.workerEnvironment = ["PXE_CATALOG_CATALOG_WATCH": "false", "PXE_CATALOG_CATALOG_RESCAN_INTERVAL": "0"]
        let inputs = server.directory.subdirectory("inputs")
        // 128 MiB of bytes that do not compress: an 8192x8192 image, 8 MiB bands.
        let random = try TestServer.run("/bin/dd", ["if=/dev/urandom", "of=\(inputs)/large.img", "bs=4M", "count=32", "status=none"])
        try #require(random.status == 0)
        try Self.pack([inputs + "/large.rts.png", "--disk", inputs + "/large.img"])
        try server.start()
        defer { server.stop() }
        try #require(server.workerProcess != nil)
        let residentBytes = server.workerResidentBytes
        let idle = residentBytes()
        #expect(rename(inputs + "/large.rts.png", server.catalogRoot + "/large.rts.png") == 0)
        #expect(try server.request("POST", "/catalog/refresh").status == 200)
        var peak = idle
        let prepared = TestServer.waitFor(seconds: 600) {
            peak = max(peak, residentBytes())
            return Self.bootObjects(server)["large.rts.png"]?["state"] == .string("ready")
        }
        #expect(prepared)
        #expect(peak - idle < 64 << 20, "the worker grew by \((peak - idle) >> 20) MB while preparing 128 MiB")
    }
}
