import Foundation
import PixelRTS
import StrictJSON
import TestSupport
import Testing

@Suite struct PayloadDecoderTests {
    let directory = TemporaryDirectory()

    func decode(_ container: [UInt8], limits: PayloadDecoder.Limits = PayloadDecoder.Limits()) throws(DecodeError) -> (PayloadDecoder.Result, [UInt8]) {
        let path = directory.path + "/payload-\(UUID().uuidString)"
        let result = try PayloadDecoder(limits: limits).decode(MemoryByteSource(container), to: path)
        let bytes = [UInt8](FileManager.default.contents(atPath: path) ?? Data())
        return (result, bytes)
    }

    func refusal(_ container: [UInt8], limits: PayloadDecoder.Limits = PayloadDecoder.Limits()) -> String? {
        do {
            _ = try decode(container, limits: limits)
            return nil
        } catch {
            #expect(error.kind == .content)
            #expect(!error.description.contains(directory.path), "no server path in \(error.description)")
            return error.description
        }
    }

    // MARK: What decodes

    @Test(arguments: [[UInt8(0)], [1], [2], [3], [4], [0, 1, 2, 3, 4]])
    func decodesImagesWithEveryFilterType(filters: [UInt8]) throws {
        let payload = PixelRTSFixtures.noise(count: 5_000)
        let (result, bytes) = try decode(PixelRTSFixtures.container(stream: payload, filters: filters, idatChunkBytes: 700))
        #expect(bytes == payload)
        #expect(result.payloadSize == 5_000)
        #expect(result.sha256 == Digest.hex(.sha256, of: payload))
        #expect(!result.transposed)
        // The row above comes from the band being filled: bands of one row (kept apart) and of
        // four rows (the first row of each band reads the previous band's last) decode the same.
        for bandRows in [1, 4] {
            var limits = PayloadDecoder.Limits()
            limits.maximumBandBytes = 64 * 4 * bandRows
            #expect(try decode(PixelRTSFixtures.container(stream: payload, filters: filters, idatChunkBytes: 700), limits: limits).1 == payload)
        }
    }

    @Test func decodesAnImageWhosePaddingIsNotEvenDecoded() throws {
        // 1 KiB of payload in a 256x256 image: the rest is zero padding.
        let payload = PixelRTSFixtures.noise(count: 1024, seed: 3)
        let (_, bytes) = try decode(PixelRTSFixtures.container(stream: payload, side: 256))
        #expect(bytes == payload)
    }

    @Test(arguments: [nil, ContainerEncoder.Compression.zlib, .zstd])
    func theEncodersContainersRoundTrip(compression: ContainerEncoder.Compression?) throws {
        let kernel = PixelRTSFixtures.noise(count: 70_001, seed: 5)
        let initrd = [UInt8](repeating: 0x42, count: 30_000)   // compresses well
        let container = PNGFixtures.pixelRTS(parts: [("kernel", kernel), ("initrd", initrd)],
                                             fields: [("type", .string("linux")), ("kernel_cmdline", .string("console=ttyS0"))], compression: compression)
        let (result, bytes) = try decode(container)
        #expect(bytes == kernel + initrd)
        #expect(result.layout.segments.map(\.name) == ["kernel", "initrd"])
        #expect(result.plan == BootPlan(kind: .linux, kernel: 0..<70_001, initrd: 70_001..<100_001, commandLine: "console=ttyS0"))
        if compression != nil { #expect(result.layout.encodedSize != nil && result.layout.encodedSize! < 100_001) }
    }

    /// Bands of 8 rows in a 64x64 image: the hashing thread follows the payload's complete
    /// prefix through 8 steps (the curve completes it out of order), with segments hashed after.
    @Test func aPayloadDecodedInManyBandsIsHashedWholeAndBySegment() throws {
        var limits = PayloadDecoder.Limits()
        limits.maximumBandBytes = 64 * 4 * 8
        let kernel = PixelRTSFixtures.noise(count: 9_001, seed: 41), initrd = PixelRTSFixtures.noise(count: 7_000, seed: 42)
        let (result, bytes) = try decode(PNGFixtures.pixelRTS(parts: [("kernel", kernel), ("initrd", initrd)]), limits: limits)
        #expect(bytes == kernel + initrd)
        #expect(result.sha256 == Digest.hex(.sha256, of: kernel + initrd))
        // One byte of the last band's row 63 (writer pixels are in image order).
        let payload = PixelRTSFixtures.noise(count: 64 * 64 * 4, seed: 43)
        var writer = PixelRTSFixtures.writer(stream: payload)
        writer.pixels[(63 * 64 + 5) * 4 + 2] ^= 0x01
        #expect(refusal(writer.encode(), limits: limits)?.hasPrefix("the payload's SHA-256 is ") == true)
        #expect(try decode(PixelRTSFixtures.writer(stream: payload).encode(), limits: limits).1 == payload)
    }

    @Test func filesInTheOldTransposedLayoutAreRecognisedByTheirHash() throws {
        let payload = PixelRTSFixtures.noise(count: 9_000, seed: 7)
        let (result, bytes) = try decode(PixelRTSFixtures.container(stream: payload, transposed: true))
        #expect(bytes == payload)
        #expect(result.transposed)
        var encoder = ContainerEncoder(parts: [.init(name: "payload", source: MemoryByteSource(payload))])
        encoder.transposed = true
        let (encoded, encodedBytes) = try decode(try encoder.encoded())
        #expect(encodedBytes == payload && encoded.transposed)
    }

    @Test func codeModeTakesThePayloadFromTheBase64() throws {
        let payload = Array("(module (func (export \"main\")))".utf8)
        let metadata = PixelRTSFixtures.defaultMetadata(payload: payload, extra: [
            ("encoding", .object([("type", .string("RGBA-code"))])),
            ("original_data_b64", .string(Data(payload).base64EncodedString())),
        ])
        // The pixels are only a picture (here: unrelated bytes).
        let (_, bytes) = try decode(PixelRTSFixtures.container(stream: PixelRTSFixtures.noise(count: 64), metadata: metadata))
        #expect(bytes == payload)
    }

    @Test func bootPlansFollowTheMetadataAndThePayload() throws {
        var bzImage = PixelRTSFixtures.noise(count: 4096, seed: 9)
        bzImage.replaceSubrange(0x202..<0x206, with: Array("HdrS".utf8))
        let kernel = PixelRTSFixtures.defaultMetadata(payload: bzImage, extra: [("type", .string("kernel")), ("cmdline", .string("quiet"))])
        #expect(try decode(PixelRTSFixtures.container(stream: bzImage, metadata: kernel)).0.plan
                == BootPlan(kind: .linux, kernel: 0..<4096, commandLine: "quiet"))
        let untyped = PixelRTSFixtures.defaultMetadata(payload: bzImage)
        #expect(try decode(PixelRTSFixtures.container(stream: bzImage, metadata: untyped)).0.plan.reason
                == "the payload is a Linux kernel (bzImage) but its type is not set, not \"kernel\"")

        var disk = [UInt8](repeating: 0, count: 2048)
        disk[510] = 0x55
        disk[511] = 0xAA
        #expect(try decode(PixelRTSFixtures.container(stream: disk)).0.plan == BootPlan(kind: .disk, disk: 0..<2048))
        let typedDisk = PixelRTSFixtures.defaultMetadata(payload: [1, 2, 3], extra: [("type", .string("disk"))])
        #expect(try decode(PixelRTSFixtures.container(stream: [1, 2, 3], metadata: typedDisk)).0.plan.kind == .disk)

        let data = PixelRTSFixtures.noise(count: 1_200_000, seed: 4)
        #expect(try decode(PixelRTSFixtures.container(stream: data)).0.plan
                == BootPlan(kind: .none, reason: "the payload is 1.2 MB of data with no kernel segment and no boot sector"))

        // The converter's single-file layout names the whole payload; a nested command line.
        let single = PixelRTSFixtures.defaultMetadata(payload: bzImage, extra: [
            ("offsets", .object([("vmlinuz", .object([("type", .string("kernel")), ("size", .int(4096)), ("sha256", .string(Digest.hex(.sha256, of: bzImage)))]))])),
            ("original_rts", .object([("kernel_cmdline", .string("root=/dev/sda1"))])),
        ])
        #expect(try decode(PixelRTSFixtures.container(stream: bzImage, metadata: single)).0.plan
                == BootPlan(kind: .linux, kernel: 0..<4096, commandLine: "root=/dev/sda1"))
    }

    // MARK: What is refused (each with the reason, nothing left behind)

    @Test func refusesMalformedImages() {
        let payload = PixelRTSFixtures.noise(count: 3000)
        let good = PixelRTSFixtures.container(stream: payload)
        let chunks = PNGFixtures.chunks(of: good)
        let idatIndex = chunks.firstIndex { $0.type == "IDAT" }!

        var truncated = chunks.map(\.bytes)
        let idat = truncated[idatIndex]
        let cutData = Array(idat[8..<(idat.count - 4)].prefix((idat.count - 12) / 2))
        truncated[idatIndex] = PNGWriter.chunk("IDAT", cutData)
        #expect(refusal(PNGFixtures.assemble(truncated))?.hasPrefix("the image data ends after") == true)

        var badCRC = chunks.map(\.bytes)
        badCRC[idatIndex][badCRC[idatIndex].count - 1] ^= 0x01
        #expect(refusal(PNGFixtures.assemble(badCRC)) == "CRC mismatch in the IDAT chunk at byte \(8 + chunks[..<idatIndex].reduce(0) { $0 + $1.bytes.count })")

        // A damaged byte of compressed data: the chunk's CRC says so first, whichever thread
        // checks it (the uncompressed payload's hashing thread, or in line for a compressed one).
        for container in [good, PNGFixtures.pixelRTS(payload: payload, compression: .zlib)] {
            let parts = PNGFixtures.chunks(of: container)
            let index = parts.firstIndex { $0.type == "IDAT" }!
            var damaged = parts.map(\.bytes)
            damaged[index][8 + 40] ^= 0xFF
            let offset = 8 + parts[..<index].reduce(0) { $0 + $1.bytes.count }
            #expect(refusal(PNGFixtures.assemble(damaged)) == "CRC mismatch in the IDAT chunk at byte \(offset)")
        }
        // The image data's zlib header is checked although its Adler-32 is not: a preset
        // dictionary (which PNG forbids), with a correct chunk CRC.
        var dictionary = chunks.map(\.bytes)
        var idatData = Array(dictionary[idatIndex][8..<(dictionary[idatIndex].count - 4)])
        idatData[1] = 0x20 | UInt8(31 - (UInt16(idatData[0]) << 8 | 0x20) % 31)
        dictionary[idatIndex] = PNGWriter.chunk("IDAT", idatData)
        #expect(refusal(PNGFixtures.assemble(dictionary)) == "the compressed image data is corrupt (IDAT chunk at byte \(8 + chunks[..<idatIndex].reduce(0) { $0 + $1.bytes.count }))")

        var rectangle = PixelRTSFixtures.writer(stream: payload)
        rectangle.height = rectangle.width / 2
        #expect(refusal(rectangle.encode()) == "the image is 32x16; PixelRTS v2 images are square")

        let odd = PNGWriter(width: 24, height: 24, pixels: [], texts: [.init("PixelRTS", "PixelRTS" + PixelRTSFixtures.defaultMetadata(payload: [1]).serializedString())])
        #expect(refusal(odd.encode()) == "the image side 24 is not a power of two up to 1048576")

        var rgb = PixelRTSFixtures.writer(stream: payload)
        rgb.colorType = 2
        #expect(refusal(rgb.encode()) == "the image has colour type 2 with 8-bit samples; PixelRTS v2 needs RGBA with 8 bits per channel (colour type 6)")
        var sixteen = PixelRTSFixtures.writer(stream: payload)
        sixteen.bitDepth = 16
        #expect(refusal(sixteen.encode())?.contains("16-bit samples") == true)
        var interlaced = PixelRTSFixtures.writer(stream: payload)
        interlaced.interlace = 1
        #expect(refusal(interlaced.encode()) == "the image is interlaced; PixelRTS v2 images are not")

        var badFilter = PixelRTSFixtures.writer(stream: payload)
        badFilter.filters = [0, 9]
        #expect(refusal(badFilter.encode()) == "row 1 of the image has unknown filter type 9")
    }

    @Test func refusesMetadataThatDoesNotFitTheImageOrItself() {
        let payload = PixelRTSFixtures.noise(count: 1000)
        func with(_ fields: [(String, JSONValue)], side: Int? = nil) -> String? {
            refusal(PixelRTSFixtures.container(stream: payload, side: side, metadata: .object([("format", .string("PixelRTS-2.0"))] + fields)))
        }
        let hash = JSONValue.string(Digest.hex(.sha256, of: payload))
        #expect(with([("data_size", .int(5000)), ("data_hash", hash)], side: 16)
                == "the metadata says the pixel stream has 5000 bytes, but a 16x16 image holds only 1024")
        #expect(with([("data_hash", hash)]) == "the metadata has no data_size, so the payload's length is unknown")
        #expect(with([("data_size", .int(1000))]) == "the metadata has no data_hash, so the payload cannot be verified")
        #expect(with([("data_size", .int(-4)), ("data_hash", hash)]) == "the metadata's data_size is not a non-negative integer")
        #expect(with([("data_size", .int(1000)), ("data_hash", .string("abc"))]) == "the metadata's data_hash is not a SHA-256 in hex")
        let segment = { (start: Int64, end: Int64) in JSONValue.object([("start", .int(start)), ("end", .int(end))]) }
        #expect(with([("data_size", .int(1000)), ("data_hash", hash), ("segments", .object([("kernel", segment(0, 2000))]))])
                == "segment kernel (bytes 0..<2000) lies outside the 1000-byte payload")
        #expect(with([("data_size", .int(1000)), ("data_hash", hash), ("segments", .object([("kernel", segment(0, 600)), ("initrd", segment(500, 1000))]))])
                == "segments kernel (bytes 0..<600) and initrd (bytes 500..<1000) overlap")
        #expect(with([("data_size", .int(1000)), ("data_hash", hash), ("segments", .object([("kernel", segment(600, 500))]))])
                == "segment kernel ends (500) before it starts (600)")
        #expect(with([("data_size", .int(1000)), ("data_hash", hash), ("segments", .object([
            ("kernel", .object([("start", .int(0)), ("end", .int(10)), ("sha256", .string(String(repeating: "0", count: 64)))])),
        ]))])?.hasPrefix("segment kernel has SHA-256 ") == true)
        // A segment that is the whole payload is checked against the payload's own hash.
        let zeros = String(repeating: "0", count: 64)
        #expect(with([("data_size", .int(1000)), ("data_hash", hash), ("segments", .object([
            ("disk", .object([("start", .int(0)), ("end", .int(1000)), ("sha256", .string(zeros))])),
        ]))]) == "segment disk has SHA-256 \(Digest.hex(.sha256, of: payload)), but the metadata says \(zeros)")
        // Segments hashed on their own thread: a wrong hash in the last one is found, right ones pass.
        let kernel = JSONValue.string(Digest.hex(.sha256, of: Array(payload[0..<600])))
        let initrd = Digest.hex(.sha256, of: Array(payload[600..<1000]))
        #expect(with([("data_size", .int(1000)), ("data_hash", hash), ("segments", .object([
            ("kernel", .object([("start", .int(0)), ("end", .int(600)), ("sha256", kernel)])),
            ("initrd", .object([("start", .int(600)), ("end", .int(1000)), ("sha256", .string(zeros))])),
        ]))]) == "segment initrd has SHA-256 \(initrd), but the metadata says \(zeros)")
        #expect(with([("data_size", .int(1000)), ("data_hash", hash), ("segments", .object([
            ("kernel", .object([("start", .int(0)), ("end", .int(600)), ("sha256", kernel)])),
            ("initrd", .object([("start", .int(600)), ("end", .int(1000)), ("sha256", .string(initrd))])),
        ]))]) == nil)
    }

    /// A single changed pixel: the hash says so (and the transposed reading does not match either).
    @Test func aFlippedPixelFailsVerification() {
        let payload = PixelRTSFixtures.noise(count: 4000)
        var writer = PixelRTSFixtures.writer(stream: payload)
        writer.pixels[17 * 4] ^= 0xFF
        #expect(refusal(writer.encode())?.hasPrefix("the payload's SHA-256 is ") == true)
    }

    @Test func refusesADecompressionBombAtItsStatedSize() {
        let bomb = Zlib.deflate([UInt8](repeating: 0, count: 64 << 20), level: 9)
        let metadata = JSONValue.object([
            ("data_size", .int(1000)), ("data_hash", .string(Digest.hex(.sha256, of: [UInt8](repeating: 0, count: 1000)))),
            ("compression", .object([("type", .string("zlib")), ("original_size", .int(1000))])), ("encoded_size", .int(Int64(bomb.count))),
        ])
        #expect(refusal(PixelRTSFixtures.container(stream: bomb, metadata: metadata)) == "the compressed stream expands past its stated size of 1000 bytes")
        // A stated size beyond the configured maximum is refused before anything is decoded.
        var limits = PayloadDecoder.Limits()
        limits.maximumPayloadBytes = 500
        #expect(refusal(PixelRTSFixtures.container(stream: bomb, metadata: metadata), limits: limits)
                == "the payload's stated size of 1000 bytes exceeds the 500 bytes this server accepts")
    }

    @Test func refusesCompressedStreamsThatAreNotWhatTheyClaim() {
        let payload = [UInt8](repeating: 1, count: 100)
        let base: [(String, JSONValue)] = [("data_size", .int(100)), ("data_hash", .string(Digest.hex(.sha256, of: payload))),
                                           ("compression", .object([("type", .string("zstd"))]))]
        let garbage = PixelRTSFixtures.noise(count: 200)
        #expect(refusal(PixelRTSFixtures.container(stream: garbage, metadata: .object(base + [("encoded_size", .int(200))])))?
            .hasPrefix("the compressed stream is neither zstd nor zlib") == true)
        var zstdLike = [UInt8]([0x28, 0xB5, 0x2F, 0xFD]) + PixelRTSFixtures.noise(count: 60)
        zstdLike[4] = 0x00
        #expect(refusal(PixelRTSFixtures.container(stream: zstdLike, metadata: .object(base + [("encoded_size", .int(64))])))?
            .hasPrefix("the zstd stream is corrupt") == true)
        let short = Zlib.deflate([UInt8](repeating: 1, count: 50))
        #expect(refusal(PixelRTSFixtures.container(stream: short, metadata: .object(base + [("encoded_size", .int(Int64(short.count)))])))
                == "the compressed stream expands to 50 bytes; the metadata's data_size says 100")
    }

    @Test(arguments: ["not base64 at all!", "QUJD=RA==", "QUJDR"])
    func refusesBase64ThatIsNotBase64(text: String) {
        let metadata = JSONValue.object([("data_size", .int(3)), ("data_hash", .string(Digest.hex(.sha256, of: Array("ABC".utf8)))),
                                         ("original_data_b64", .string(text))])
        #expect(refusal(PixelRTSFixtures.container(stream: [0], metadata: metadata))?.hasPrefix("original_data_b64 is not base64") == true)
    }

    @Test func aFileWithoutPixelRTSMetadataIsRefused() {
        #expect(refusal(PNGFixtures.named("plain")) == "the file has no PixelRTS v2 metadata (a text chunk holding PixelRTS and a JSON object)")
        #expect(refusal(Array("not a png".utf8)) == "the file is not a valid PNG: not a PNG file (missing PNG signature)")
    }

    @Test func nothingIsLeftBehindWhenDecodingFails() throws {
        var writer = PixelRTSFixtures.writer(stream: PixelRTSFixtures.noise(count: 4000))
        writer.pixels[3] ^= 1
        _ = refusal(writer.encode())
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty)
    }
}

extension PayloadDecoderTests {
    /// Found by the fuzzer: a compressed container whose stream does not decompress left the
    /// partial payload behind.
    @Test func aCompressedStreamThatFailsLeavesNothingBehind() throws {
        let payload = PixelRTSFixtures.noise(count: 3000)
        let compressed = Zlib.deflate(payload)
        var broken = compressed
        broken.replaceSubrange(100..<120, with: repeatElement(0xFF, count: 20))
        let metadata = PixelRTSFixtures.defaultMetadata(payload: payload, extra: [
            ("compression", .object([("type", .string("zlib")), ("original_size", .int(3000))])), ("encoded_size", .int(Int64(broken.count))),
        ])
        #expect(refusal(PixelRTSFixtures.container(stream: broken, metadata: metadata)) != nil)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty)
    }
}
