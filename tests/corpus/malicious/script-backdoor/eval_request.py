from django.http import HttpResponse


def debug(request):
    return HttpResponse(str(eval(request.GET["expr"])))
