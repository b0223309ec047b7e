"""The response examples of Sentry's published API docs (shared/reference/seeds 000 and 001).

Copied verbatim so the shape tests run anywhere (CI has no shared/ folder). They are the contract:
our responses must have these keys, in this order, recursively.
"""

from typing import Any

#: Seed 000: GET .../preprodartifacts/snapshots/{snapshot_id}/images/{image_identifier}/
IMAGE_DETAIL: dict[str, Any] = {
    "image_file_name": "home_screen_iphone15.png",
    "comparison_status": "changed",
    "head_image": {
        "content_hash": "a1b2c3d4e5f6",
        "display_name": "Home Screen",
        "group": "iPhone 15",
        "image_file_name": "home_screen_iphone15.png",
        "width": 1170,
        "height": 2532,
        "diff_threshold": 0.01,
        "description": None,
        "tags": None,
        "image_url": "/api/0/projects/org-slug/project-slug/files/images/a1b2c3d4e5f6/",
    },
    "base_image": {
        "content_hash": "old_hash_123",
        "display_name": "Home Screen",
        "group": "iPhone 15",
        "image_file_name": "home_screen_iphone15.png",
        "width": 1170,
        "height": 2532,
        "diff_threshold": 0.01,
        "description": None,
        "tags": None,
        "image_url": "/api/0/projects/org-slug/project-slug/files/images/old_hash_123/",
    },
    "diff_image_url": "/api/0/projects/org-slug/project-slug/files/images/diff_hash_456/",
    "diff_percentage": 0.02,
    "previous_image_file_name": None,
}

#: Seed 001: GET .../preprodartifacts/snapshots/{snapshot_id}/
SNAPSHOT_DETAILS: dict[str, Any] = {
    "head_artifact_id": "100",
    "base_artifact_id": "99",
    "project_id": "1",
    "comparison_type": "diff",
    "state": "UPLOADED",
    "vcs_info": {
        "head_sha": "abc123def456",
        "base_sha": "789xyz000111",
        "provider": "github",
        "head_repo_name": "org/repo",
        "base_repo_name": "org/repo",
        "head_ref": "feature-branch",
        "base_ref": "main",
        "pr_number": 42,
    },
    "app_id": "com.example.app",
    "is_selective": False,
    "images": [
        {
            "key": "a1b2c3d4e5f6",
            "display_name": "Home Screen",
            "group": "iPhone 15",
            "image_file_name": "home_screen_iphone15.png",
            "width": 1170,
            "height": 2532,
        }
    ],
    "image_count": 1,
    "added": [],
    "added_count": 0,
    "removed": [],
    "removed_count": 0,
    "renamed": [],
    "renamed_count": 0,
    "changed": [
        {
            "base_image": {
                "key": "old_hash_123",
                "display_name": "Home Screen",
                "group": "iPhone 15",
                "image_file_name": "home_screen_iphone15.png",
                "width": 1170,
                "height": 2532,
            },
            "head_image": {
                "key": "a1b2c3d4e5f6",
                "display_name": "Home Screen",
                "group": "iPhone 15",
                "image_file_name": "home_screen_iphone15.png",
                "width": 1170,
                "height": 2532,
            },
            "diff_image_key": "diff_hash_456",
            "diff": 0.02,
        }
    ],
    "changed_count": 1,
    "unchanged": [],
    "unchanged_count": 0,
    "errored": [],
    "errored_count": 0,
    "skipped": [],
    "skipped_count": 0,
    "diff_threshold": 0.01,
    "comparison_state": "success",
    "approval_status": "requires_approval",
    "comparison_error_message": None,
    "approvers": [],
}
