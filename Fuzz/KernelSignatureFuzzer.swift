// libFuzzer entry point for the kernel signature reader (PE headers, the certificate table, the
// PKCS#7 inside it). Built by `make fuzz` with Sources/PXECatalog/KernelSignature.swift alone.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzKernelSignature(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    var reads = 0
    let signature = KernelSignature.inspect(head: Array(bytes.prefix(4096)), fileSize: bytes.count) { (offset: Int, count: Int) -> [UInt8]? in
        reads += 1
        // The reader must only ask for what it checked lies inside the file.
        guard offset >= 0, count >= 0, offset + count <= bytes.count else {
            fatalError("read outside the file: \(offset)+\(count) of \(bytes.count)")
        }
        return Array(bytes[offset..<offset + count])
    }
    if reads > 1 { fatalError("more than one read of the certificate table") }
    if case let .signed(signer?) = signature, signer.count > 128 { fatalError("signer longer than 128 characters") }
    return 0
}
