/// The PostgreSQL roles migration 0009 makes: one per worker, and the states' analysts. A
/// worker logs in as a member of its own (`sampark db-login`), never as the owner.
public enum DatabaseRoles {
    public static let ingest = "sampark_ingest"
    public static let lists = "sampark_lists"
    public static let dispatch = "sampark_dispatch"
    public static let feedback = "sampark_feedback"
    public static let reports = "sampark_reports"
    public static let analyst = "sampark_analyst"

    /// By the name an operator uses: the worker's executable, or `analyst`.
    public static let byRole: [String: String] = [
        "ingest-worker": ingest, "list-builder": lists, "dialer-dispatcher": dispatch,
        "feedback-aggregator": feedback, "reporter": reports, "analyst": analyst,
    ]
}
