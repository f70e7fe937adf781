from django.contrib import admin

from field_service.models import Skill, TechnicianProfile, TechnicianSkill

admin.site.register(Skill)
admin.site.register(TechnicianProfile)
admin.site.register(TechnicianSkill)
