import Foundation
import PXECatalog
import PXESettings
import StrictJSON

/// The JSON shapes of catalog entries in `/containers` and `/pxe` (the previous server's key
/// names), shared by the API and the `scan` command.
package enum CatalogJSON {
    package static func container(_ entry: CatalogEntry, setting: PXESetting?, boot: BootStatus) -> JSONValue {
        let m = entry.metadata
        return .object([
            ("id", .string(entry.id)),
            ("name", .string(entry.displayName)),
            ("filename", .string(entry.fileName)),
            ("size", .int(entry.size)),
            ("url", .string("/containers/\(entry.id)")),
            ("thumbnail", .string(orNull: boot.thumbnail == nil ? nil : "/containers/\(entry.id)/thumbnail.png")),
            ("kernel_version", .string(orNull: m.kernelVersion)),
            ("distro", .string(orNull: m.distro)),
            ("architecture", .string(orNull: m.architecture)),
            ("grid_size", .int(orNull: m.gridSize)),
            ("format", .string(orNull: m.format)),
            ("format_version", m.formatVersion ?? .null),
            ("type", .string(orNull: m.type)),
            ("description", .string(orNull: m.description)),
            ("content_version", .string(orNull: m.contentVersion)),
            ("data_size", .int(orNull: m.dataSize)),
            ("data_hash", .string(orNull: m.dataHash)),
            ("valid", .bool(entry.isValid)),
            ("problem", .string(orNull: entry.problem)),
            ("warnings", .array(m.warnings.map(JSONValue.string))),
            ("pxe_enabled", .bool(setting?.enabled ?? false)),
            ("boot_order", .int(orNull: setting.map { Int64($0.bootOrder) })),
            ("revision", .int(orNull: setting.map(\.revision))),
            // The previous server's keys for its vision analysis (catalog.analyzer).
            ("visual_description", .string(orNull: boot.analysis?.description)),
            ("detected_objects", .array((boot.analysis?.labels ?? []).map(JSONValue.string))),
            ("analysis_problem", .string(orNull: boot.analysis?.problem)),
            ("boot", bootObject(id: entry.id, entry: entry, status: boot)),
        ])
    }

    /// The `boot` object of an entry in `/containers`: what it boots, whether it is ready, why not.
    static func bootObject(id: String, entry: CatalogEntry, status: BootStatus) -> JSONValue {
        let parts = BootPart.allCases.compactMap { part -> (String, JSONValue)? in
            guard let size = status.parts[part] else { return nil }
            return (part.rawValue, .object([("size", .int(size)), ("url", .string("/containers/\(id)/\(part.rawValue)"))]))
        }
        return .object([
            ("kind", .string(orNull: status.kind?.rawValue)),
            ("ready", .bool(status.bootable)),
            ("state", .string(status.state.rawValue)),
            ("verified", status.verified.map(JSONValue.bool) ?? .null),
            ("problem", .string(orNull: status.problem)),
            ("parts", .object(parts)),
            ("cmdline", .string(orNull: status.kind == .linux ? entry.metadata.kernelCommandLine : nil)),
            ("secure_boot", secureBoot(status)),
            ("secure_boot_signer", .string(orNull: status.kernelSignature.flatMap { signature in
                if case let .signed(signer) = signature { return signer }
                return nil
            })),
        ])
    }

    /// `signed` or `unsigned` for a prepared Linux entry's kernel (what it claims: the machine's
    /// firmware and shim decide whether they trust it), `not_applicable` for a disk image, null
    /// until known.
    static func secureBoot(_ status: BootStatus) -> JSONValue {
        switch (status.kind, status.kernelSignature) {
        case (.linux?, let signature?): return .string(signature.isSigned ? "signed" : "unsigned")
        case (.disk?, _): return .string("not_applicable")
        default: return .null
        }
    }

    /// An entry of `/pxe`: its name is the menu name when one is set (as the previous boot-menu
    /// server answered `pxe_name or name`); the scanned name stays in `/containers`.
    static func pxe(_ entry: CatalogEntry, _ setting: PXESetting, boot: BootStatus) -> JSONValue {
        .object([
            ("id", .string(entry.id)),
            ("name", .string(setting.menuName ?? entry.displayName)),
            ("url", .string("/containers/\(entry.id)")),
            ("boot_order", .int(Int64(setting.bootOrder))),
            ("size", .int(entry.size)),
            ("pxe_name", .string(orNull: setting.menuName)),
            ("pxe_description", .string(orNull: setting.menuDescription)),
            ("pxe_cmdline", .string(orNull: setting.commandLine)),
            ("revision", .int(setting.revision)),
            ("boot", .object([("kind", .string(orNull: boot.kind?.rawValue)), ("ready", .bool(boot.bootable)),
                              ("state", .string(boot.state.rawValue)), ("problem", .string(orNull: boot.problem))])),
        ])
    }

    /// `{"containers":[...],<extra>}` from pre-serialised items.
    static func listingBody(_ items: ArraySlice<[UInt8]>, extra: [(String, Int)]) -> [UInt8] {
        var body: [UInt8] = Array(#"{"containers":["#.utf8)
        body.reserveCapacity(items.reduce(64) { $0 + $1.count + 1 })
        for (index, item) in items.enumerated() {
            if index > 0 { body.append(UInt8(ascii: ",")) }
            body += item
        }
        body.append(UInt8(ascii: "]"))
        for (key, value) in extra { body += Array(",\"\(key)\":\(value)".utf8) }
        body.append(UInt8(ascii: "}"))
        return body
    }
}

extension CatalogJSON {
    static func iso8601(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }

    static func iso8601Milliseconds(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }
}
