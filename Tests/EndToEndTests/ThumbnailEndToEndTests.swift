import Foundation
import PixelRTS
import StrictJSON
import TestSupport
import Testing

/// Thumbnails made by the worker in the background and sent by nginx from the boot cache.
@Suite(.serialized) struct ThumbnailEndToEndTests {
    /// The listing's entries by file name, once every valid entry has a thumbnail URL or a reason.
    static func entries(_ server: TestServer, until done: ([String: JSONValue]) -> Bool) -> [String: JSONValue] {
        var entries: [String: JSONValue] = [:]
        _ = TestServer.waitFor(seconds: 300) {
            guard let body = try? server.request("GET", "/containers").body, case let .array(items)? = try? JSONParser.parse(body)["containers"] else { return false }
            entries = [:]
            for item in items { if let name = item["filename"]?.stringValue { entries[name] = item } }
            return done(entries)
        }
        return entries
    }

    /// A square RGBA PNG streamed to `path` row by row (never whole in memory): every pixel
    /// `background` except rows in `stripe`, which are `stripeColour`.
    static func writeLargePNG(path: String, side: Int, background: [UInt8], stripe: Range<Int>, stripeColour: [UInt8]) throws {
        FileManager.default.createFile(atPath: path, contents: nil)
        let file = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? file.close() }
        let header = PNGChunk.bigEndian(UInt32(side)) + PNGChunk.bigEndian(UInt32(side)) + [8, 6, 0, 0, 0]
        file.write(Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + PNGChunk.make("IHDR", header)))
        let deflater = Deflater(level: 1)
        var pending: [UInt8] = []
        func flush(force: Bool) {
            guard force || pending.count >= 1 << 20 else { return }
            if !pending.isEmpty { file.write(Data(PNGChunk.make("IDAT", pending))) }
            pending.removeAll(keepingCapacity: true)
        }
        let plain = [0] + Array([[UInt8]](repeating: background, count: side).joined())
        let striped = [0] + Array([[UInt8]](repeating: stripeColour, count: side).joined())
        for row in 0..<side {
            (stripe.contains(row) ? striped : plain).withUnsafeBytes { raw in deflater.feed(raw) { pending.append(contentsOf: $0) } }
            flush(force: false)
        }
        deflater.feed(UnsafeRawBufferPointer(start: nil, count: 0), finish: true) { pending.append(contentsOf: $0) }
        flush(force: true)
        file.write(Data(PNGChunk.make("IEND", [])))
    }

    @Test func thumbnailsAreMadeOncePerContentAndSentByNginxWithConditionals() throws {
        let server = TestServer()
        let inputs = server.directory.subdirectory("inputs")
        server.directory.write(PixelRTSFixtures.noise(count: 300_000, seed: 5), to: "inputs/data.bin")
        try BootPartsTests.pack([server.catalogRoot + "/packed.rts.png", "--segment", "data=" + inputs + "/data.bin", "--name", "Packed"])
        // A valid PNG the renderer does not read (RGB, not RGBA): no thumbnail, and the reason.
        server.directory.write(ThumbnailFixtures.rgbPNG(side: 8), to: "catalog/rgb.rts.png")
        try server.start()
        defer { server.stop() }

        let entries = Self.entries(server) { $0["packed.rts.png"]?["thumbnail"]?.stringValue != nil }
        let packed = try #require(entries["packed.rts.png"])
        let id = try #require(packed["id"]?.stringValue)
        #expect(packed["thumbnail"] == .string("/containers/\(id)/thumbnail.png"))
        let picture = try server.request("GET", "/containers/\(id)/thumbnail.png")
        #expect(picture.status == 200)
        #expect(picture.headers["content-type"] == "image/png")
        let side = try #require(packed["grid_size"]?.intValue)
        let rendered = try Thumbnail.render(MemoryByteSource([UInt8](Data(contentsOf: URL(fileURLWithPath: server.catalogRoot + "/packed.rts.png")))))
        #expect(picture.body == rendered, "nginx sends the thumbnail the worker rendered of this file")
        #expect(Array(picture.body[16..<24]) == PNGChunk.bigEndian(UInt32(min(128, side))) + PNGChunk.bigEndian(UInt32(min(128, side))))
        let etag = try #require(picture.headers["etag"])
        #expect(try server.request("GET", "/containers/\(id)/thumbnail.png", headers: ["If-None-Match: \(etag)"]).status == 304)
        #expect(try server.request("HEAD", "/containers/\(id)/thumbnail.png").status == 200)

        let rgbID = try #require(entries["rgb.rts.png"]?["id"]?.stringValue)
        let refused = try server.request("GET", "/containers/\(rgbID)/thumbnail.png")
        #expect(refused.status == 404)
        #expect(refused.text.contains("has no thumbnail: the image has colour type 2"), "\(refused.text)")
        #expect(entries["rgb.rts.png"]?["thumbnail"] == .null)
        #expect(try server.request("GET", "/containers/000000000000/thumbnail.png").status == 404)

        // New content at the same path: a new thumbnail at the same URL, the old one removed from the cache.
        let thumbnails = server.directory.path + "/state/boot-cache/thumbnails"
        let before = try FileManager.default.contentsOfDirectory(atPath: thumbnails)
        server.directory.write(PixelRTSFixtures.noise(count: 300_000, seed: 6), to: "inputs/data.bin")
        try BootPartsTests.pack([server.catalogRoot + "/packed.rts.png", "--segment", "data=" + inputs + "/data.bin", "--name", "Packed"])
        #expect(try server.request("POST", "/catalog/refresh").status == 200)
        let renewed = try Thumbnail.render(MemoryByteSource([UInt8](Data(contentsOf: URL(fileURLWithPath: server.catalogRoot + "/packed.rts.png")))))
        #expect(renewed != rendered)
        #expect(TestServer.waitFor(seconds: 120) { (try? server.request("GET", "/containers/\(id)/thumbnail.png").body) == renewed })
        let changed = try server.request("GET", "/containers/\(id)/thumbnail.png", headers: ["If-None-Match: \(etag)"])
        #expect(changed.status == 200, "the old ETag no longer matches")
        #expect(TestServer.waitFor(seconds: 60) {
            let now = (try? FileManager.default.contentsOfDirectory(atPath: thumbnails)) ?? []
            return now.count == before.count && Set(now) != Set(before)
        }, "the old thumbnail left the cache")
    }

    /// A 16384 x 16384 image (1 GiB of pixels) is reduced a band at a time: the worker's
    /// memory does not follow the image's size.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["E2E_SANITIZER"] == nil, "sanitizers add their own memory"))
    func aHugeImageIsReducedWithoutHoldingIt() throws {
        let server = TestServer()
        server.workerEnvironment = ["PXE_CATALOG_CATALOG_WATCH": "false", "PXE_CATALOG_CATALOG_RESCAN_INTERVAL": "0"]
        let inputs = server.directory.subdirectory("inputs")
        // Rows 8192..<8320 red: in the thumbnail, row 64 exactly (128-row blocks).
        try Self.writeLargePNG(path: inputs + "/huge.rts.png", side: 16384, background: [0, 0, 64, 9], stripe: 8192..<8320, stripeColour: [255, 0, 0, 9])
        try server.start()
        defer { server.stop() }
        try #require(server.workerProcess != nil)
        let residentBytes = server.workerResidentBytes
        let idle = residentBytes()
        #expect(rename(inputs + "/huge.rts.png", server.catalogRoot + "/huge.rts.png") == 0)
        #expect(try server.request("POST", "/catalog/refresh").status == 200)
        var peak = idle
        var url: String?
        _ = TestServer.waitFor(seconds: 600) {
            peak = max(peak, residentBytes())
            url = Self.entries(server) { _ in true }["huge.rts.png"]?["thumbnail"]?.stringValue
            return url != nil
        }
        let path = try #require(url, "the huge image got a thumbnail")
        let picture = try server.request("GET", path)
        let (side, _, rows) = try ThumbnailFixtures.readRGB(picture.body)
        #expect(side == 128)
        #expect(Array(rows[63][0..<3]) == [0, 0, 64])
        #expect(Array(rows[64][0..<3]) == [255, 0, 0])
        #expect(Array(rows[65][(127 * 3)..<(128 * 3)]) == [0, 0, 64])
        #expect(peak - idle < 64 << 20, "the worker grew by \((peak - idle) >> 20) MB while reducing a 16384 px image")
    }
}
