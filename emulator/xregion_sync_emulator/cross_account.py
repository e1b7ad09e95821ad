"""AMIs shared across accounts, which moto does not model (each account's backend sees only
its own AMIs): an AMI of account B with a launch permission for account A (or public)

  - is returned by DescribeImages in A (by ImageIds, Owners=[B], ExecutableUsers, or no
    owner at all), but without its tags: AWS shows an AMI's tags only to its owner, so a
    `tag:` filter in A never matches it;
  - can be the SourceImageId of CopyImage in A (moto looked the source up in A's backend);
  - once deprecated, is left out of A's DescribeImages unless A names its id or sets
    IncludeDeprecated (EC2 User Guide, "Deprecate an Amazon EC2 AMI": "For AMI users, the
    deprecated AMI does not appear in DescribeImages API calls unless you specify its ID
    or specify that deprecated AMIs must appear. AMI owners continue to see deprecated
    AMIs"); moto ignores IncludeDeprecated.

EC2 User Guide, "Understand shared AMI use": "AMIs are a regional resource ... you can
share an AMI with specific AWS accounts"; DescribeImages (API Reference): "The images
available to you include public images, private images that you own, and private images
owned by other AWS accounts for which you have explicit launch permissions"; "Tag your
Amazon EC2 resources": tags are visible only to the account that created them ("you can't
see tags on a shared AMI" - an AMI shared with you shows no tags).
"""

from __future__ import annotations

import copy
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from .moto_seam import ActionResult, Ami, AmiBackend, AmisResponse, generic_filter, replace

if TYPE_CHECKING:
    from .moto_seam import EC2Backend


class SharedImageView(Ami):
    """Another account's AMI as the account it is shared with sees it: no tags."""

    def get_tags(self) -> list[dict[str, str]]:
        return []


def share_amis_across_accounts(stack: ExitStack) -> None:
    original_describe_images = AmiBackend.describe_images

    def describe_images(self: EC2Backend, ami_ids: list[str] | None = None,
                        filters: dict[str, Any] | None = None,
                        exec_users: list[str] | None = None,
                        owners: list[str] | None = None) -> list[Ami]:
        shared = _shared_with(self.account_id, self.region_name)
        if ami_ids:
            found = [image for image in shared if image.id in ami_ids]
            rest = [ami_id for ami_id in ami_ids if ami_id not in {i.id for i in found}]
            own = original_describe_images(self, ami_ids=rest) if rest else []
            return own + found
        own = original_describe_images(self, filters=filters, exec_users=exec_users,
                                       owners=owners)
        shared = [image for image in shared
                  if _owned_by(image, owners, self.account_id)
                  and _executable_by(image, exec_users, self.account_id)]
        return own + (generic_filter(filters, shared) if filters else shared)

    replace(stack, AmiBackend, "describe_images", describe_images)
    _hide_deprecated_amis_from_their_users(stack)


def _hide_deprecated_amis_from_their_users(stack: ExitStack) -> None:
    original_describe_images = AmisResponse.describe_images

    def describe_images(self: AmisResponse) -> ActionResult:
        answer = original_describe_images(self)
        if self._get_param("ImageIds") or self._get_bool_param("IncludeDeprecated", False):
            return answer
        images = cast(dict[str, list[Ami]], answer.result)["Images"]
        return ActionResult({"Images": [image for image in images
                                        if image.owner_id == self.current_account
                                        or not deprecated(image)]})

    replace(stack, AmisResponse, "describe_images", describe_images)


def deprecated(image: Ami) -> bool:
    """Whether the AMI's DeprecationTime (EnableImageDeprecation's, see fidelity.py) has come."""
    when = getattr(image, "deprecation_time", None)
    return bool(when) and datetime.fromisoformat(str(when).replace("Z", "+00:00")) <= datetime.now(
        UTC)


def _shared_with(account_id: str, region: str) -> list[SharedImageView]:
    """The AMIs of other accounts in `region` that `account_id` may launch, as it sees them."""
    from .moto_seam import ec2_backends

    views: list[SharedImageView] = []
    for owner in list(ec2_backends.keys()):
        backends = ec2_backends[owner]
        if owner == account_id or region not in backends.keys():
            continue
        for image in list(backends[region].amis.values()):
            if image.is_public or {"UserId": account_id} in image.launch_permissions:
                view = copy.copy(image)
                view.__class__ = SharedImageView
                views.append(cast(SharedImageView, view))  # its class, just set
    return views


def _owned_by(image: Ami, owners: list[str] | None, account_id: str) -> bool:
    if not owners:
        return True
    return image.owner_id in owners or image.owner_alias in owners  # "self" is never a share


def _executable_by(image: Ami, exec_users: list[str] | None, account_id: str) -> bool:
    if not exec_users:
        return True
    # As moto's own (and AWS's "all"): a public AMI is executable by everyone.
    users = {account_id if user == "self" else user for user in exec_users}
    return image.is_public or any({"UserId": user} in image.launch_permissions
                                  for user in users)
