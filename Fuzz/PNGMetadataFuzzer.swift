// libFuzzer entry point for the PNG metadata reader and the metadata mapping.
// Built by `make fuzz` together with the StrictJSON and PixelRTS sources (see the Makefile); not
// a SwiftPM target, because `-sanitize=fuzzer` supplies its own `main`.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPNGMetadata(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    var bytes = Array(UnsafeBufferPointer(start: data, count: size))
    // Half of the inputs get their chunk CRCs repaired, so mutations reach the text decoders
    // instead of dying at the CRC check.
    if size > 0 && data[0] & 1 == 1 { bytes = FuzzSupport.repairingCRCs(bytes) }
    var limits = PNGMetadataReader.Limits()
    limits.maximumInflatedBytes = 1 << 20
    let inspection = PNGMetadataReader(limits: limits).inspect(MemoryByteSource(bytes))
    let metadata = ContainerMetadata.from(textChunks: inspection.textChunks)
    // Invariants: a valid file has dimensions; the mapping never invents a name from nothing.
    if inspection.problem == nil && (inspection.width == nil || inspection.height == nil) { fatalError("valid PNG without IHDR size") }
    if inspection.textChunks.isEmpty && metadata.name != nil { fatalError("name without any text chunk") }
    return 0
}
