import Logging
import PXEAPI

/// Who may change the catalog, from `admin.token_file` and `admin.allow_unauthenticated`; read
/// at start and on every SIGHUP (tokens rotate without a restart).
enum AdminPolicy {
    static func load(_ configuration: Configuration, logger: Logger) throws(StartupError) -> AdminAuthorizer.Policy {
        if let path = configuration.admin.tokenFile {
            do {
                let tokens = try AdminTokenFile.load(path: path)
                logger.info("admin endpoints need one of \(tokens.count) token(s) from \(path)")
                return .tokens(tokens)
            } catch {
                throw StartupError(.adminTokens, error.description)
            }
        }
        if configuration.admin.allowUnauthenticated {
            logger.warning("admin.allow_unauthenticated is true and no admin.token_file is set: ANYONE who can reach nginx can change the boot menu")
            return .unauthenticatedAllowed
        }
        logger.warning("no admin.token_file is configured: POST endpoints (refresh, toggle, menu) are disabled")
        return .disabled
    }
}
