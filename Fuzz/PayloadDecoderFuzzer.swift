// libFuzzer entry point for the payload decoder (image, curve, compression, code mode, hashes).
// Built by `make fuzz` (see the Makefile). Every input must end in a verdict: a payload or a
// DecodeError, within bounded time and memory, and a refused input leaves no file behind.
import Glibc

private let scratch: String = {
    let directory = "/tmp/pxe-catalog-fuzz-\(getpid())"
    mkdir(directory, 0o700)
    return directory
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPayloadDecoder(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    var bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if size > 0 && data[0] & 1 == 1 { bytes = FuzzSupport.repairingCRCs(bytes) }
    var limits = PayloadDecoder.Limits()
    limits.maximumPayloadBytes = 1 << 20
    limits.maximumMetadataBytes = 1 << 20
    limits.maximumBandBytes = 1 << 20
    let path = scratch + "/payload"
    do {
        let result = try PayloadDecoder(limits: limits).decode(MemoryByteSource(bytes), to: path)
        if result.payloadSize > limits.maximumPayloadBytes { fatalError("a payload beyond the limit was accepted") }
    } catch {
        if error.kind != .content { fatalError("unexpected failure kind for \(error)") }
        if access(path, F_OK) == 0 { fatalError("a refused input left its payload behind") }
    }
    unlink(path)
    return 0
}
