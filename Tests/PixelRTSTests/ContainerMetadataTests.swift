import PXECatalog
import PixelRTS
import Testing

@Suite struct ContainerMetadataTests {
    func metadata(_ pairs: [(String, String)]) -> ContainerMetadata {
        ContainerMetadata.from(textChunks: pairs.map { PNGTextChunk(chunkType: "tEXt", keyword: $0.0, text: $0.1) })
    }

    static func field(_ m: ContainerMetadata, _ name: String) -> String? {
        switch name {
        case "name": return m.name
        case "kernel_version": return m.kernelVersion
        case "distro": return m.distro
        default: return m.architecture
        }
    }

    @Test(arguments: [
        ("name", "name"), ("pixelrts.name", "name"), ("NAME", "name"), ("PixelRTS.Name", "name"),
        ("kernel_version", "kernel_version"), ("kernel", "kernel_version"), ("pixelrts.kernel", "kernel_version"), ("Kernel", "kernel_version"),
        ("distro", "distro"), ("pixelrts.distro", "distro"), ("DISTRO", "distro"),
        ("architecture", "architecture"), ("arch", "architecture"), ("pixelrts.arch", "architecture"), ("Arch", "architecture"),
    ])
    func mapsEachPlainKeyFormCaseInsensitively(key: String, field: String) {
        #expect(Self.field(metadata([(key, "  value  ")]), field) == "value")
    }

    /// Values are trimmed of white space at both ends, ASCII or not (a no-break space, an
    /// ideographic space), and kept as they are when there is none; blank values count as absent.
    @Test(arguments: [
        ("plain", "plain"), ("  spaced  ", "spaced"), ("\tTabbed\n", "Tabbed"), ("\u{00A0}nbsp\u{00A0}", "nbsp"),
        ("\u{3000}wide\u{3000}", "wide"), ("inner  space", "inner  space"), ("é", "é"), ("x\u{00A0}", "x"), (" \u{2003} ", nil),
    ] as [(String, String?)])
    func valuesAreTrimmedOfWhiteSpaceOfAnyKind(raw: String, kept: String?) {
        #expect(metadata([("name", raw)]).name == kept)
    }

    @Test func mapsGridSizeKeys() {
        #expect(metadata([("grid_size", "1024")]).gridSize == 1024)
        #expect(metadata([("PixelRTS.Grid_Size", "64")]).gridSize == 64)
    }

    @Test func parsesThePixelRTSv2Chunk() {
        let json = #"{"format":"PixelRTS-2.0","format_version":2,"grid_size":256,"encoding":{"type":"RGBA-dense"},"data_hash":"abc123","data_size":200000,"type":"kernel","name":"Alpine","description":"Rescue","content_version":"3.20","distro":"alpine","kernel_version":"6.6","architecture":"x86_64"}"#
        let m = metadata([("PixelRTS", "PixelRTS" + json)])
        #expect(m.format == "PixelRTS-2.0")
        #expect(m.formatVersion == .int(2))
        #expect(m.gridSize == 256)
        #expect(m.dataHash == "abc123")
        #expect(m.dataSize == 200000)
        #expect(m.type == "kernel")
        #expect(m.name == "Alpine")
        #expect(m.description == "Rescue")
        #expect(m.contentVersion == "3.20")
        #expect(m.distro == "alpine")
        #expect(m.kernelVersion == "6.6")
        #expect(m.architecture == "x86_64")
        #expect(m.warnings.isEmpty)
    }

    @Test func pixelRTSChunkWinsOverPlainKeysAndOtherJSONChunks() {
        let m = metadata([
            ("name", "plain"),
            ("PixelRTS-Blueprint", #"PixelRTS-Blueprint{"name":"blueprint","distro":"from-blueprint"}"#),
            ("PixelRTS", #"PixelRTS{"name":"v2"}"#),
        ])
        #expect(m.name == "v2")
        #expect(m.distro == "from-blueprint")
    }

    @Test func readsOtherPixelRTSKeysHoldingJSONObjects() {
        let m = metadata([("pixelrts.meta", #"{"kernel":"5.10","arch":"riscv64"}"#)])
        #expect(m.kernelVersion == "5.10")
        #expect(m.architecture == "riscv64")
    }

    @Test func warnsAboutAMalformedPixelRTSChunkWithoutFailing() {
        let m = metadata([("PixelRTS", "PixelRTS{not json"), ("name", "fallback")])
        #expect(m.name == "fallback")
        #expect(m.warnings.count == 1)
        #expect(m.warnings.first?.hasPrefix("PixelRTS chunk: Invalid JSON at byte") == true)
    }

    @Test func ignoresEmptyValues() {
        #expect(metadata([("name", "   ")]).name == nil)
    }
}

@Suite struct PixelRTSKeywordTests {
    /// A JSON chunk counts as PixelRTS metadata when its keyword contains "pixelrts" anywhere.
    @Test func findsTheWordAnywhereAndOnlyWhole() {
        for key in ["pixelrts.meta", "x-pixelrts", "my.pixelrts", "ppixelrts", "PIXELRTS-extra"] {
            let m = ContainerMetadata.from(textChunks: [PNGTextChunk(chunkType: "tEXt", keyword: key, text: #"{"distro":"found"}"#)])
            #expect(m.distro == "found", "\(key)")
        }
        for key in ["pixel", "pixelrt", "pixelrt.s", "pixel-rts", "ixelrts"] {
            let m = ContainerMetadata.from(textChunks: [PNGTextChunk(chunkType: "tEXt", keyword: key, text: #"{"distro":"found"}"#)])
            #expect(m.distro == nil, "\(key)")
        }
    }
}
