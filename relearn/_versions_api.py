"""``Client``'s version and alias methods: list and resolve versions, roll back to one,
point aliases at them. A rollback is a job, so this part builds on ``JobsApi``."""

from __future__ import annotations

from relearn._api import ModelRef, VersionRef, model_id, version_ref
from relearn._jobs_api import JobsApi
from relearn.models import Alias, Job, Version
from relearn.transport import segment


class VersionsApi(JobsApi):
    def list_versions(self, model: ModelRef, *, page_size: int | None = None) -> list[Version]:
        return list(
            self._iter(
                Version, f"/v1/models/{segment(model_id(model))}/versions", page_size=page_size
            )
        )

    def get_version(self, model: ModelRef, version: VersionRef = "latest") -> Version:
        """A version by number, ``"latest"`` or an alias."""
        return self._get(
            Version,
            f"/v1/models/{segment(model_id(model))}/versions/{segment(version_ref(version))}",
        )

    def rollback(self, model: ModelRef, version: VersionRef) -> Job:
        """Queue a job that publishes a new version holding ``version``'s weights and state."""
        number = self._number(model, version)
        return self._job_from(
            self._json(
                "POST", f"/v1/models/{segment(model_id(model))}/rollback", json={"version": number}
            )
        )

    def _number(self, model: ModelRef, version: VersionRef) -> int:
        if isinstance(version, Version):
            return version.number
        if isinstance(version, int):
            return version
        return int(version) if version.isdigit() else self.get_version(model, version).number

    def list_aliases(self, model: ModelRef) -> list[Alias]:
        return list(self._iter(Alias, f"/v1/models/{segment(model_id(model))}/aliases"))

    def get_alias(self, model: ModelRef, alias: str) -> Alias:
        return self._get(Alias, self._alias_path(model, alias))

    def set_alias(self, model: ModelRef, alias: str, version: VersionRef) -> Alias:
        """Point ``alias`` at ``version`` (``latest`` is reserved: 422)."""
        number = self._number(model, version)
        return Alias.model_validate(
            self._json("PUT", self._alias_path(model, alias), json={"version": number})
        )

    def delete_alias(self, model: ModelRef, alias: str) -> None:
        self._http.request("DELETE", self._alias_path(model, alias))

    @staticmethod
    def _alias_path(model: ModelRef, alias: str) -> str:
        return f"/v1/models/{segment(model_id(model))}/aliases/{segment(alias)}"
