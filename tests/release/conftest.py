from stage_project import add_backbone, project, tracking_uri, write_split  # noqa: F401  (fixtures)
