import PXEHosts

/// What a boot-path handler tells `CatalogAPI.handle` to put in the boot log.
struct BootEventNote: Sendable {
    var kind: BootRequestKind
    var entry: String?
    var outcome: String?
}

extension CatalogAPI {
    /// Records a boot-path request (no I/O: a lock and a ring buffer).
    func recordBoot(_ note: BootEventNote, request: HTTPRequest, status: Int) {
        let machine = request.query.isEmpty ? MachineIdentity() : MachineIdentity(query: request.query)
        bootLog.record(machine, kind: note.kind, entry: note.entry, status: status, outcome: note.outcome)
    }
}
