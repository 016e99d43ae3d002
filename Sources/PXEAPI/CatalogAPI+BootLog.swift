import PXEHosts

/// What a boot-path handler tells `CatalogAPI.handle` to put in the boot log.
struct BootEventNote: Sendable {
    var kind: BootRequestKind
    var entry: String?
    var outcome: String?
    /// Who asked, when the path says it rather than the query (answer files).
    var machine: MachineIdentity?
    /// The peer's address, recorded for answer files (who fetched them).
    var address: String?
}

extension CatalogAPI {
    /// Records a boot-path request (no I/O: a lock and a ring buffer).
    func recordBoot(_ note: BootEventNote, request: HTTPRequest, status: Int) {
        let machine = note.machine ?? (request.query.isEmpty ? MachineIdentity() : MachineIdentity(query: request.query))
        bootLog.record(machine, kind: note.kind, entry: note.entry, status: status, outcome: note.outcome, address: note.address)
    }
}
