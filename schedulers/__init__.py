"""The jobs: pure functions of (session, as_of), the schedule as data, and the tick runner."""
