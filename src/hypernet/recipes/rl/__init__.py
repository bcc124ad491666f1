"""Reinforcement learning with hypernetwork policies: HyperZero (zero-shot transfer across task parameters) and
HyperPPO (one PPO training, policies of many sizes). Needs the ``rl`` extra (gymnasium[mujoco], stable-baselines3).

Example:
    >>> from hypernet.recipes.rl import PENDULUM
    >>> PENDULUM.names
    ('mass', 'length')
"""

from ._contexts import (
    CARTPOLE,
    CHEETAH_SPEED,
    CHEETAH_TORSO,
    FAMILIES,
    IDP_GRAVITY,
    IP_POLE_MASS,
    IP_TARGET,
    PENDULUM,
    PENDULUM_TARGET,
    ContextFamily,
    TargetAngle,
    TargetPosition,
    TargetSpeed,
    family,
)
from .multi_arch_policy import MultiArchPolicy
from .zero_shot_policy import ZeroShotPolicy

__all__ = [
    "CARTPOLE",
    "CHEETAH_SPEED",
    "CHEETAH_TORSO",
    "FAMILIES",
    "IDP_GRAVITY",
    "IP_POLE_MASS",
    "IP_TARGET",
    "PENDULUM",
    "PENDULUM_TARGET",
    "ContextFamily",
    "MultiArchPolicy",
    "TargetAngle",
    "TargetPosition",
    "TargetSpeed",
    "ZeroShotPolicy",
    "family",
]
