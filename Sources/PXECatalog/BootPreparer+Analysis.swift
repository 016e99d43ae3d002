import Foundation

/// The analyzer's thread: one container at a time, after its thumbnail is made, at the same low
/// priority. Apart from the preparing thread, so a slow analyzer never delays a boot part.
extension BootPreparer {
    func runAnalyzer(_ analyzer: ContainerAnalyzer) {
        let stopping = { [self] in state.withLock { $0.stopping } }
        while !stopping() {
            guard let (path, hash) = state.withLock({ Self.nextAnalysis($0) }) else {
                analyzerWake.wait()
                continue
            }
            var result = cache.readAnalysis(hash)
            if result == nil {
                guard let made = analyzer.analyze(containerPath: path, thumbnailPath: cache.thumbnailPath(hash), shouldStop: stopping) else { return }
                if let problem = made.problem {
                    settings.log(true, "no analysis of \((path as NSString).lastPathComponent): \(problem)")
                } else {
                    do { try cache.storeAnalysis(made, hash: hash) } catch { settings.log(true, "an analysis could not be kept: \(error.description)") }
                }
                result = made
            }
            state.withLock { state in
                state.analyses[hash] = result
                for (id, status) in state.statuses where status.thumbnail == hash { state.statuses[id]?.analysis = result }
                state.dirty = true
            }
            wake.signal()   // the preparing thread publishes the statuses
        }
    }

    /// A container with a thumbnail and no analysis yet: its path and content hash.
    static func nextAnalysis(_ state: State) -> (String, String)? {
        for entry in state.snapshot.entries where entry.isValid {
            guard case let .ready(hash)? = state.thumbnails[FileVersion(realPath: entry.realPath, identity: entry.fileIdentity)],
                  state.analyses[hash] == nil else { continue }
            return (entry.realPath, hash)
        }
        return nil
    }
}
