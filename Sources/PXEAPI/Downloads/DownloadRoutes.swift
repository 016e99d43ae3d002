import PXECatalog

/// A container file (`/containers/{id}`, `/files/{name}`), a prepared boot part
/// (`/containers/{id}/kernel`, ...) or a thumbnail: headers only, nginx sends the bytes.
enum DownloadRoute: Equatable, Sendable {
    case container(String), part(String, BootPart), thumbnail(String), file(String)

    init?(path: String) {
        if path.utf8.starts(with: "/containers/".utf8) {
            // On the UTF-8 view: dropping Characters would walk grapheme clusters.
            let rest = path.utf8.dropFirst(12)
            guard let slash = rest.firstIndex(of: UInt8(ascii: "/")) else {
                self = .container(String(Substring(rest)))
                return
            }
            let id = String(Substring(rest[..<slash])), tail = String(Substring(rest[rest.index(after: slash)...]))
            if tail == "thumbnail.png" {
                self = .thumbnail(id)
                return
            }
            guard let part = BootPart(rawValue: tail) else { return nil }
            self = .part(id, part)
        } else if path.hasPrefix("/files/") {
            self = .file(String(path.dropFirst(7)))
        } else {
            return nil
        }
    }

    var metricName: String {
        switch self {
        case .container: return "container"
        case .part: return "container_part"
        case .thumbnail: return "thumbnail"
        case .file: return "file"
        }
    }

    /// A kernel, initrd or disk fetched is a step of a boot.
    var bootEvent: BootEventNote? {
        guard case let .part(id, part) = self else { return nil }
        switch part {
        case .kernel: return BootEventNote(kind: .kernel, entry: id)
        case .initrd: return BootEventNote(kind: .initrd, entry: id)
        case .disk: return BootEventNote(kind: .disk, entry: id)
        case .payload: return nil
        }
    }
}

/// Downloads: the container files (`/containers/{id}`, `/files/{name}`) and their prepared boot
/// parts (`/containers/{id}/kernel` ...). The worker never sends file bytes: it answers an
/// `X-Accel-Redirect` into an nginx `internal` location.
struct DownloadRoutes: Sendable {
    let store: CatalogStore
    let currentContext: CurrentContext
    var context: APIContext { currentContext.value }
    let files: any ServedFileChecker
    /// Download headers per container id, for the current snapshot generation.
    let downloadHeaderCache = RevisionCache<Int, [String: [(String, String)]]>()
    /// Download headers of ready boot parts, for the current catalog and boot state: a boot
    /// storm fetches the same few kernels and initrds thousands of times between two changes.
    let partHeaderCache = RevisionCache<CatalogRevision, [PartDownload: [(String, String)]]>()
    struct PartDownload: Hashable, Sendable {
        var id: String
        var part: BootPart
    }

    func invalidate() {
        downloadHeaderCache.invalidate()
        partHeaderCache.invalidate()
    }

    func respond(_ route: DownloadRoute) throws(APIError) -> HTTPResponse {
        switch route {
        case let .container(id): return try downloadContainer(id: id)
        case let .part(id, part): return try downloadPart(id: id, part: part)
        case let .thumbnail(id): return try downloadThumbnail(id: id)
        case let .file(name): return try downloadFile(name: name)
        }
    }

    /// Seconds a client is told to wait for an entry that is being prepared.
    static let preparingRetrySeconds = 5

    func downloadContainer(id: String) throws(APIError) -> HTTPResponse {
        let snapshot = store.current.snapshot
        guard CatalogEntry.isWellFormedID(id), let entry = snapshot.entry(id: id) else { throw .noSuchContainer }
        // Fast path: the very file the scan resolved. Otherwise (replaced, e.g. by rsync) check
        // the whole path again: it must still resolve, without symlinks, inside the root.
        if !files.isUnchanged(rootRealPath: entry.rootRealPath, relativePath: entry.relativePath, identity: entry.fileIdentity) {
            let realPath = entry.realPath
            guard let resolved = files.resolveServable(path: realPath, insideRoot: entry.rootRealPath), resolved == realPath else {
                throw APIError(.notFound, "Container \(id) is no longer available; refresh the catalog.")
            }
        }
        let headers = downloadHeaderCache.update(for: snapshot.generation, initial: { [:] }) { known -> [(String, String)] in
            if let headers = known[id] { return headers }
            let made = redirect(index: entry.rootIndex, relativePath: entry.relativePath, fileName: entry.fileName).headers
            if known.count >= 4096 { known.removeAll(keepingCapacity: true) }
            known[id] = made
            return made
        }
        return HTTPResponse(status: 200, headers: headers)
    }

    func downloadFile(name: String) throws(APIError) -> HTTPResponse {
        let missing = APIError(.notFound, "No container file with that name.")
        guard Self.isSafeFileName(name) else { throw APIError(.badRequest, "Invalid file name.") }
        guard name.utf8.count <= Self.maximumFileNameBytes else { throw missing }   // no file can have it
        guard context.scanner.matches(fileName: name) else { throw missing }
        let root = context.filesRoot
        guard let resolved = files.resolveServable(path: root + "/" + name, insideRoot: root),
              let realRoot = CatalogScanner.realPath(root) else { throw missing }
        let relative = String(resolved.dropFirst(realRoot == "/" ? 1 : realRoot.count + 1))
        return redirect(index: context.locations.filesRootIndex, relativePath: relative, fileName: name)
    }

    func downloadPart(id: String, part: BootPart) throws(APIError) -> HTTPResponse {
        let state = store.current
        let download = PartDownload(id: id, part: part)
        // Cached only for a ready part of this very catalog and boot state (the key).
        if let headers = partHeaderCache.update(for: state.revisionKey, initial: { [:] }, { $0[download] }) {
            return HTTPResponse(status: 200, headers: headers)
        }
        guard CatalogEntry.isWellFormedID(id), let entry = state.snapshot.entry(id: id) else { throw .noSuchContainer }
        let status = state.bootStatus(id)
        switch status.state {
        case .pending, .preparing:
            throw APIError(.unavailable, "Container \(id) is being prepared (its payload is decoded and verified in the background); try again shortly.",
                           headers: [("Retry-After", String(Self.preparingRetrySeconds))])
        case .notPrepared:
            throw APIError(.unavailable, "Container \(id) is not prepared: \(status.problem ?? "no reason given").",
                           headers: [("Retry-After", "60")])
        case .failed:
            throw APIError(.conflict, "Container \(id) cannot be opened: \(status.problem ?? "no reason given").")
        case .ready:
            guard let key = status.cacheKey, status.parts[part] != nil else {
                throw APIError(.notFound, "Container \(id) has no \(part.rawValue) (it boots as \(status.kind?.rawValue ?? "nothing")).")
            }
            let stem = CatalogEntry.stem(of: entry.fileName)
            let headers = [
                ("Content-Type", "application/octet-stream"),
                ("Content-Disposition", Self.contentDisposition(fileName: "\(stem)-\(part.fileName)")),
                ("X-Accel-Redirect", context.locations.cacheRedirectURI(key: key, fileName: part.fileName)),
            ]
            partHeaderCache.update(for: state.revisionKey, initial: { [:] }) { known in
                if known.count >= 4096 { known.removeAll(keepingCapacity: true) }
                known[download] = headers
            }
            return HTTPResponse(status: 200, headers: headers)
        }
    }

    /// The entry's thumbnail (a small PNG of its image, made in the background with the boot
    /// parts), from the cache through nginx: ETag, Last-Modified and conditional requests are nginx's.
    func downloadThumbnail(id: String) throws(APIError) -> HTTPResponse {
        let state = store.current
        guard CatalogEntry.isWellFormedID(id), state.snapshot.entry(id: id) != nil else { throw .noSuchContainer }
        let status = state.bootStatus(id)
        guard let hash = status.thumbnail else {
            if let problem = status.thumbnailProblem {
                throw APIError(.notFound, "Container \(id) has no thumbnail: \(problem).")
            }
            throw APIError(.unavailable, "The thumbnail of container \(id) is being made in the background; try again shortly.",
                           headers: [("Retry-After", String(Self.preparingRetrySeconds))])
        }
        return HTTPResponse(status: 200, headers: [
            ("Content-Type", "image/png"),
            // The URL stays when the file changes: browsers revalidate (nginx answers 304 when it did not).
            ("Cache-Control", "no-cache"),
            ("X-Accel-Redirect", context.locations.cacheRedirectURI(key: BootCacheDirectory.thumbnailDirectoryName, fileName: hash + ".png")),
        ])
    }

    /// NAME_MAX on Linux file systems.
    static let maximumFileNameBytes = 255

    /// A plain file name: no separators, no dot-names, no control characters.
    static func isSafeFileName(_ name: String) -> Bool {
        guard !name.isEmpty, !name.hasPrefix(".") else { return false }
        return !name.unicodeScalars.contains { scalar in
            scalar == "/" || scalar == "\\" || scalar.value < 0x20 || scalar.value == 0x7F
                || (0x80...0x9F).contains(scalar.value)
        }
    }

    func redirect(index: Int, relativePath: String, fileName: String) -> HTTPResponse {
        HTTPResponse(status: 200, headers: [
            ("Content-Type", "image/png"),
            ("Content-Disposition", Self.contentDisposition(fileName: fileName)),
            ("X-Accel-Redirect", context.locations.redirectURI(index: index, relativePath: relativePath)),
        ])
    }

    /// `attachment` with an ASCII fallback name and the exact UTF-8 name (RFC 6266 / 5987).
    static func contentDisposition(fileName: String) -> String {
        let fallback = String(fileName.unicodeScalars.map { scalar -> Character in
            scalar.isASCII && scalar.value >= 0x20 && scalar != "\"" && scalar != "\\" && scalar.value != 0x7F
                ? Character(scalar) : "_"
        })
        return "attachment; filename=\"\(fallback)\"; filename*=UTF-8''\(InternalLocations.percentEncode(fileName))"
    }
}
