"""The medical components take the shared precision parameter, and still read the old mixed_precision."""

import pytest
from pydantic import ValidationError

from gda_medical.applications.segmentation import SegmentationParams
from gda_medical.generators.diffusion_base import DiffusionParams


@pytest.mark.parametrize("cls", [DiffusionParams, SegmentationParams])
def test_precision_is_the_shared_field_and_the_old_name_still_reads(cls):
    assert cls().precision == "auto"
    assert cls(precision="float32").precision == "float32"
    assert cls.model_validate({"mixed_precision": False}).precision == "float32"
    assert cls.model_validate({"mixed_precision": True}).precision == "auto"
    with pytest.raises(ValidationError, match="not also the old mixed_precision"):
        cls.model_validate({"mixed_precision": True, "precision": "float32"})
    with pytest.raises(ValidationError, match="precision"):
        cls(precision="float8")
